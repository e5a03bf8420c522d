package deploy

import (
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/forteleasing/inspections/internal/config"
)

// composeFile is the part of deploy/compose.yaml these tests read.
type composeFile struct {
	Services map[string]struct {
		Image         string            `yaml:"image"`
		Build         string            `yaml:"build"`
		ContainerName string            `yaml:"container_name"`
		Ports         []string          `yaml:"ports"`
		Environment   map[string]string `yaml:"environment"`
		Volumes       []string          `yaml:"volumes"`
		Networks      yaml.Node         `yaml:"networks"`
		DependsOn     yaml.Node         `yaml:"depends_on"`
	} `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
}

// The values an operator's .env gives the compose file's required variables.
var operatorEnv = map[string]string{
	"FL_PUBLIC_HOST": "api.forteleasing.kz", "POSTGRES_PASSWORD": "pg-secret", "MINIO_ROOT_PASSWORD": "minio-secret-1",
	"FL_JWT_SECRET": "0123456789abcdef0123456789abcdef-prod", "FL_ONEC_PASSWORD": "1c-secret-of-16-chars-or-more",
	"FL_ADMIN_TOKEN": "admin-token-for-metrics-and-pprof",
	"FL_MAIL_URL":    "smtp://mailer:pw@smtp.example.kz:587",
}

var interpolation = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}`)

// interpolate does what docker compose does with ${VAR}, ${VAR:-default} and ${VAR:?message}.
func interpolate(t *testing.T, s string, env map[string]string) string {
	t.Helper()
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		p := interpolation.FindStringSubmatch(m)
		v, ok := env[p[1]]
		switch {
		case ok && v != "":
			return v
		case p[2] == ":-":
			return p[3]
		case p[2] == ":?":
			t.Errorf("compose would stop: %s is required (%s)", p[1], p[3])
		}
		return ""
	})
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml is not valid YAML: %v", err)
	}
	return c
}

func TestCompose_ScalesBehindCaddyWithHTTPSAndReachableVideos(t *testing.T) {
	c := readCompose(t)
	for _, name := range []string{"postgres", "minio", "forteleasing", "caddy"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("no %s service", name)
		}
	}
	app, caddy := c.Services["forteleasing"], c.Services["caddy"]

	// --scale forteleasing=3 needs an instance that claims no host port and no fixed name.
	if len(app.Ports) != 0 || app.ContainerName != "" {
		t.Errorf("forteleasing publishes %v / is named %q: a second instance could not start", app.Ports, app.ContainerName)
	}
	for name, s := range c.Services {
		if name != "caddy" && len(s.Ports) != 0 {
			t.Errorf("%s publishes %v: only Caddy faces the outside", name, s.Ports)
		}
	}
	if !slices.Contains(caddy.Ports, "80:80") || !slices.Contains(caddy.Ports, "443:443") {
		t.Errorf("caddy publishes %v, want 80 (ACME and the redirect) and 443", caddy.Ports)
	}
	if _, err := os.Stat("../Dockerfile"); err != nil || app.Build != ".." {
		t.Errorf("forteleasing builds from %q: %v", app.Build, err)
	}
	if !slices.Contains(caddy.Volumes, "./Caddyfile:/etc/caddy/Caddyfile:ro") || !slices.ContainsFunc(caddy.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/data") }) {
		t.Errorf("caddy volumes %v: want the Caddyfile and a volume for its certificates", caddy.Volumes)
	}
	if _, err := os.Stat("Caddyfile"); err != nil {
		t.Fatal(err)
	}

	// Each instance's environment, as compose hands it over, passes the production start-up checks.
	env := map[string]string{}
	for k, v := range app.Environment {
		env[k] = interpolate(t, v, operatorEnv)
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the instances' environment: %v", err)
	}
	cfg.DataDir = t.TempDir()
	if err := cfg.EnsureJWTSecret(); err != nil {
		t.Fatal(err)
	}
	if cfg.Env != "production" {
		t.Errorf("FL_ENV = %q", cfg.Env)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("an instance would refuse to start: %v", err)
	}
	if cfg.PublicURL != "https://api.forteleasing.kz" || cfg.MediaPublicURL != cfg.PublicURL {
		t.Errorf("FL_PUBLIC_URL %q, FL_MEDIA_PUBLIC_URL %q: want both https://FL_PUBLIC_HOST", cfg.PublicURL, cfg.MediaPublicURL)
	}
	media, err := url.Parse(cfg.MediaURL)
	if err != nil || media.Host != "minio:9000" {
		t.Fatalf("FL_MEDIA_URL %q", cfg.MediaURL)
	}
	// Caddy forwards /BUCKET/... to MinIO: the bucket the service writes must be the one Caddy publishes.
	if bucket := strings.Trim(media.Path, "/"); bucket != caddyDefault(t, "FL_MEDIA_BUCKET") {
		t.Errorf("the service writes bucket %q, Caddy publishes %q", bucket, caddyDefault(t, "FL_MEDIA_BUCKET"))
	}
	if got := caddyDefault(t, "FL_MEDIA_UPSTREAM"); got != media.Host {
		t.Errorf("Caddy sends video reads to %q, the store is %q", got, media.Host)
	}
	if got := caddyDefault(t, "FL_UPSTREAM_NAME") + ":" + caddyDefault(t, "FL_UPSTREAM_PORT"); got != "forteleasing:8080" {
		t.Errorf("Caddy resolves the instances as %q", got)
	}
	if caddy.Environment["FL_PUBLIC_HOST"] == "" {
		t.Error("caddy does not get FL_PUBLIC_HOST: it would not know which certificate to get")
	}

	// The instances trust X-Forwarded-For from Caddy's fixed address alone, on the one network.
	if env["FL_PROXY_HEADER"] != "X-Forwarded-For" {
		t.Errorf("FL_PROXY_HEADER = %q", env["FL_PROXY_HEADER"])
	}
	var caddyNets map[string]struct {
		IPv4 string `yaml:"ipv4_address"`
	}
	if err := caddy.Networks.Decode(&caddyNets); err != nil || len(caddyNets) != 1 {
		t.Fatalf("caddy networks: %v %v", caddyNets, err)
	}
	for netName, n := range caddyNets {
		ip := net.ParseIP(n.IPv4)
		if ip == nil {
			t.Fatalf("caddy has no fixed address on %s", netName)
		}
		if env["FL_TRUSTED_PROXIES"] != n.IPv4+"/32" {
			t.Errorf("FL_TRUSTED_PROXIES = %q, Caddy is %s", env["FL_TRUSTED_PROXIES"], n.IPv4)
		}
		cfgs := c.Networks[netName].IPAM.Config
		if len(cfgs) != 1 {
			t.Fatalf("network %s has no fixed subnet", netName)
		}
		_, subnet, err := net.ParseCIDR(cfgs[0].Subnet)
		if err != nil || !subnet.Contains(ip) {
			t.Errorf("caddy's %s is outside the subnet %s", ip, cfgs[0].Subnet)
		}
		for name, s := range c.Services {
			var nets []string
			if err := s.Networks.Decode(&nets); err != nil {
				var m map[string]yaml.Node
				if err := s.Networks.Decode(&m); err != nil {
					t.Fatalf("%s networks: %v", name, err)
				}
				nets = nil
				for k := range m {
					nets = append(nets, k)
				}
			}
			if !slices.Equal(nets, []string{netName}) {
				t.Errorf("%s is on %v: every service shares %s, so Caddy reaches the instances from its fixed address", name, nets, netName)
			}
		}
	}
}

// caddyDefault is the default the Caddyfile gives {$NAME:default}.
func caddyDefault(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\{\$` + name + `:([^}]*)\}`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("the Caddyfile has no {$%s:default}", name)
	}
	return string(m[1])
}

func TestCaddyfile_ValidAsComposeRunsIt(t *testing.T) {
	caddy := needTool(t, "caddy")
	for _, cmd := range []string{"validate", "adapt"} {
		c := exec.Command(caddy, cmd, "--config", "Caddyfile", "--adapter", "caddyfile")
		c.Env = []string{"FL_PUBLIC_HOST=" + operatorEnv["FL_PUBLIC_HOST"], "HOME=" + t.TempDir(), "XDG_DATA_HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("caddy %s: %v\n%s", cmd, err, out)
		}
		if cmd == "adapt" {
			// Automatic HTTPS is on for the public name, and plain HTTP redirects to it.
			for _, want := range []string{`"host":["api.forteleasing.kz"]`, `"listen":[":443"]`, `"dial":"minio:9000"`, `"source":"a"`, `"policy":"round_robin"`} {
				if !strings.Contains(string(out), want) {
					t.Errorf("caddy adapt lacks %s:\n%s", want, out)
				}
			}
			if strings.Contains(string(out), `"automatic_https":{"disable`) {
				t.Errorf("automatic HTTPS is disabled:\n%s", out)
			}
		}
	}
}
