package apidocs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"regexp"
	"sort"
	"strings"
)

// The page's view of the document: operations grouped by tag in document order, every $ref resolved
// (a dangling one is an error), schemas listed once at the end and linked by name.

type view struct {
	Title, Version, Summary string
	Description             []string // paragraphs
	Auth                    []authView
	Groups                  []group
	Schemas                 []schemaView
	Count                   int
	schemaNames             map[string]bool
}

type authView struct {
	Name, Kind, Description string
}

type group struct {
	Name, Description string
	Ops               []opView
}

type opView struct {
	Method, Path, ID, Summary, Description string
	Security                               []string
	Params                                 []paramView
	Bodies                                 []bodyView
	Responses                              []respView
}

type paramView struct {
	Name, In, Type, Description string
	Required                    bool
}

type bodyView struct {
	MediaType, Schema, Example string
}

type respView struct {
	Status, Description, Schema, Example string
}

type schemaView struct {
	Name, Type, Description string
	Fields                  []fieldView
}

type fieldView struct {
	Name, Type, Description string
	Required                bool
}

func buildView(d *document) (*view, error) {
	v := &view{Title: d.Info.Title, Version: d.Info.Version, Summary: d.Info.Summary}
	for _, p := range strings.Split(d.Info.Description, "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			v.Description = append(v.Description, p)
		}
	}
	for _, name := range d.Components.SecuritySchemes.Keys {
		sc := d.Components.SecuritySchemes.Values[name]
		v.Auth = append(v.Auth, authView{Name: name, Kind: sc.kind(), Description: sc.Description})
	}
	v.schemaNames = map[string]bool{}
	for name := range d.Components.Schemas {
		v.schemaNames[name] = true
	}
	groups := map[string]*group{}
	var order []string
	ids := map[string]string{}
	for _, t := range d.Tags {
		groups[t.Name] = &group{Name: t.Name, Description: t.Description}
		order = append(order, t.Name)
	}
	for _, path := range d.Paths.Keys {
		item := d.Paths.Values[path]
		if item == nil {
			return nil, fmt.Errorf("path %s is empty", path)
		}
		for _, o := range item.operations() {
			op, err := buildOp(d, path, o.method, item, o.op)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", o.method, path, err)
			}
			if id := o.op.OperationID; id != "" {
				if other, dup := ids[id]; dup {
					return nil, fmt.Errorf("%s %s: operationId %q is also %s", o.method, path, id, other)
				}
				ids[id] = o.method + " " + path
			}
			tag := "Other"
			if len(o.op.Tags) > 0 {
				tag = o.op.Tags[0]
			}
			g, ok := groups[tag]
			if !ok {
				g = &group{Name: tag}
				groups[tag] = g
				order = append(order, tag)
			}
			g.Ops = append(g.Ops, op)
			v.Count++
		}
	}
	for _, name := range order {
		if g := groups[name]; len(g.Ops) > 0 {
			v.Groups = append(v.Groups, *g)
		}
	}
	names := make([]string, 0, len(d.Components.Schemas))
	for name := range d.Components.Schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := d.Components.Schemas[name]
		if err := checkRefs(d, s, 0); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		sv := schemaView{Name: name, Type: typeOf(s), Description: s.Description}
		sv.Fields = fields(nil, "", s, 0)
		v.Schemas = append(v.Schemas, sv)
	}
	return v, nil
}

// fields lists a schema's properties, and those of objects written inline in it as "data.email" or
// "items[].id": the envelope answers keep their payload in an inline "data" object.
func fields(out []fieldView, prefix string, s *schema, depth int) []fieldView {
	if depth > 4 {
		return out
	}
	for _, f := range s.Properties.Keys {
		p := s.Properties.Values[f]
		out = append(out, fieldView{Name: prefix + f, Type: typeOf(p), Description: p.Description, Required: s.requires(f)})
		switch {
		case p.Ref == "" && len(p.Properties.Keys) > 0:
			out = fields(out, prefix+f+".", p, depth+1)
		case p.Ref == "" && p.Items != nil && p.Items.Ref == "" && len(p.Items.Properties.Keys) > 0:
			out = fields(out, prefix+f+"[].", p.Items, depth+1)
		}
	}
	return out
}

func buildOp(d *document, path, method string, item *pathItem, o *operation) (opView, error) {
	op := opView{Method: method, Path: path, ID: o.OperationID, Summary: o.Summary, Description: o.Description}
	for _, req := range o.Security {
		for name := range req {
			if _, ok := d.Components.SecuritySchemes.Values[name]; !ok {
				return op, fmt.Errorf("unknown security scheme %q", name)
			}
			op.Security = append(op.Security, name)
		}
	}
	inPath := map[string]bool{}
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		inPath[m[1]] = true
	}
	declared := map[string]bool{}
	for _, p := range append(append([]*parameter{}, item.Parameters...), o.Parameters...) {
		if p.Ref != "" {
			name, err := refName(p.Ref, "parameters")
			if err != nil {
				return op, err
			}
			if p = d.Components.Parameters[name]; p == nil {
				return op, fmt.Errorf("$ref %s: no such parameter", name)
			}
		}
		if p.In == "path" {
			if !inPath[p.Name] {
				return op, fmt.Errorf("path parameter %s is not in the path", p.Name)
			}
			if !p.Required {
				return op, fmt.Errorf("path parameter %s must be required", p.Name)
			}
			declared[p.Name] = true
		}
		if err := checkRefs(d, p.Schema, 0); err != nil {
			return op, fmt.Errorf("parameter %s: %w", p.Name, err)
		}
		op.Params = append(op.Params, paramView{Name: p.Name, In: p.In, Type: typeOf(p.Schema), Description: p.Description, Required: p.Required})
	}
	for name := range inPath {
		if !declared[name] {
			return op, fmt.Errorf("path parameter {%s} is not declared", name)
		}
	}
	if b := o.RequestBody; b != nil {
		if b.Ref != "" {
			name, err := refName(b.Ref, "requestBodies")
			if err != nil {
				return op, err
			}
			if b = d.Components.RequestBodies[name]; b == nil {
				return op, fmt.Errorf("$ref %s: no such request body", name)
			}
		}
		for _, mt := range b.Content.Keys {
			m := b.Content.Values[mt]
			if err := checkRefs(d, m.Schema, 0); err != nil {
				return op, fmt.Errorf("request body %s: %w", mt, err)
			}
			op.Bodies = append(op.Bodies, bodyView{MediaType: mt, Schema: typeOf(m.Schema), Example: pretty(m.Example)})
		}
	}
	if len(o.Responses.Keys) == 0 {
		return op, fmt.Errorf("no responses")
	}
	for _, status := range o.Responses.Keys {
		r := o.Responses.Values[status]
		if r.Ref != "" {
			name, err := refName(r.Ref, "responses")
			if err != nil {
				return op, err
			}
			if r = d.Components.Responses[name]; r == nil {
				return op, fmt.Errorf("$ref %s: no such response", name)
			}
		}
		rv := respView{Status: status, Description: r.Description}
		for _, mt := range r.Content.Keys {
			m := r.Content.Values[mt]
			if err := checkRefs(d, m.Schema, 0); err != nil {
				return op, fmt.Errorf("response %s: %w", status, err)
			}
			if rv.Schema == "" {
				rv.Schema = typeOf(m.Schema)
				if mt != "application/json" {
					rv.Schema = mt
				}
			}
			if rv.Example == "" {
				rv.Example = pretty(m.Example)
			}
		}
		op.Responses = append(op.Responses, rv)
	}
	return op, nil
}

// checkRefs fails on a schema reference that points nowhere, anywhere below s.
func checkRefs(d *document, s *schema, depth int) error {
	if s == nil || depth > 32 {
		return nil
	}
	if s.Ref != "" {
		name, err := refName(s.Ref, "schemas")
		if err != nil {
			return err
		}
		if d.Components.Schemas[name] == nil {
			return fmt.Errorf("$ref %s: no such schema", name)
		}
		return nil // the component itself is checked once, on its own
	}
	kids := append(append(append([]*schema{s.Items}, s.OneOf...), s.AnyOf...), s.AllOf...)
	for _, k := range s.Properties.Keys {
		kids = append(kids, s.Properties.Values[k])
	}
	if m, err := s.mapValues(); err != nil {
		return err
	} else if m != nil {
		kids = append(kids, m)
	}
	for _, k := range kids {
		if err := checkRefs(d, k, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// typeOf names a schema in a few words: a component name, "array of X", "string (date-time)", "A | B".
func typeOf(s *schema) string {
	if s == nil {
		return ""
	}
	if s.Ref != "" {
		return strings.TrimPrefix(s.Ref, "#/components/schemas/")
	}
	var alts []*schema
	alts = append(append(alts, s.OneOf...), s.AnyOf...)
	if len(alts) > 0 {
		names := make([]string, len(alts))
		for i, a := range alts {
			names[i] = typeOf(a)
		}
		return strings.Join(names, " | ")
	}
	if len(s.AllOf) > 0 {
		names := make([]string, len(s.AllOf))
		for i, a := range s.AllOf {
			names[i] = typeOf(a)
		}
		return strings.Join(names, " & ")
	}
	var parts []string
	for _, t := range s.Type {
		switch {
		case t == "array":
			parts = append(parts, "array of "+typeOf(s.Items))
		case t == "object":
			if m, _ := s.mapValues(); m != nil {
				parts = append(parts, "map of "+typeOf(m))
			} else {
				parts = append(parts, "object")
			}
		case s.Format != "":
			parts = append(parts, t+" ("+s.Format+")")
		default:
			parts = append(parts, t)
		}
	}
	out := strings.Join(parts, " | ")
	also := func(s string) {
		if out != "" {
			out += ", "
		}
		out += s
	}
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, e := range s.Enum {
			vals[i] = string(e)
		}
		also("one of " + strings.Join(vals, ", "))
	}
	if len(s.Const) > 0 {
		also("= " + string(s.Const))
	}
	return out
}

func pretty(raw json.RawMessage) string {
	if len(bytes.TrimSpace(raw)) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

var (
	pathParam = regexp.MustCompile(`\{([^{}/]+)\}`)
	typeName  = regexp.MustCompile(`[A-Z][A-Za-z0-9]*`)
)

// kind describes a security scheme in a few words.
func (s *securityScheme) kind() string {
	switch {
	case s.Type == "http" && s.BearerFormat != "":
		return "HTTP " + s.Scheme + " (" + s.BearerFormat + ")"
	case s.Type == "http":
		return "HTTP " + s.Scheme
	case s.Type == "apiKey":
		return "key in " + s.In + " " + s.Name
	}
	return s.Type
}

// inline renders the document's prose: text between backticks as code, everything escaped.
func inline(s string) template.HTML {
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 { // an unpaired backtick stays a backtick
		parts[len(parts)-2] += "`" + parts[len(parts)-1]
		parts = parts[:len(parts)-1]
	}
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(p) + "</code>")
		} else {
			b.WriteString(template.HTMLEscapeString(p))
		}
	}
	return template.HTML(b.String())
}

// TypeHTML renders a type description with the names of component schemas linked to their entries.
func (v *view) TypeHTML(s string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range typeName.FindAllStringIndex(s, -1) {
		name := s[m[0]:m[1]]
		if !v.schemaNames[name] {
			continue
		}
		b.WriteString(template.HTMLEscapeString(s[last:m[0]]))
		b.WriteString(`<a href="#schema-` + template.HTMLEscapeString(name) + `">` + template.HTMLEscapeString(name) + `</a>`)
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(s[last:]))
	return template.HTML(b.String())
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"lower":  strings.ToLower,
	"inline": inline,
	"anchor": func(method, path string) string {
		r := strings.NewReplacer("/", "-", "{", "", "}", "", ".", "-")
		return strings.ToLower(method) + r.Replace(path)
	},
}).Parse(pageHTML))

func renderPage(v *view) ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} {{.Version}}</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#0d3b66;color:#fff;padding:24px 32px}header h1{margin:0 0 4px;font-size:26px}
header p{margin:4px 0;opacity:.9}header a{color:#fff}main{display:flex;gap:24px;padding:24px 32px}
nav{flex:0 0 270px;position:sticky;top:16px;align-self:flex-start;max-height:92vh;overflow:auto;font-size:13px}
nav a{display:block;color:#1d2330;text-decoration:none;padding:2px 0;overflow-wrap:anywhere}nav a:hover{color:#2b6cb0}
nav h3{margin:14px 0 4px;font-size:13px;text-transform:uppercase;color:#5b6577}
article{flex:1;min-width:0}.intro p{max-width:900px}a{color:#2b6cb0}
section.op{background:#fff;border:1px solid #dde1e7;border-radius:8px;margin:0 0 16px;padding:16px 20px}
.m{display:inline-block;min-width:62px;text-align:center;font-weight:700;font-size:12px;border-radius:4px;padding:2px 6px;color:#fff;margin-right:8px}
.get{background:#2f855a}.post{background:#2b6cb0}.put{background:#b7791f}.delete{background:#c53030}.patch{background:#6b46c1}
.path{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:15px;font-weight:600;overflow-wrap:anywhere}
h2.tag{margin:28px 0 8px}table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}
th,td{text-align:left;border-bottom:1px solid #eceff3;padding:4px 8px;vertical-align:top}th{color:#5b6577;font-weight:600}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}code{background:#eef1f5;border-radius:3px;padding:0 3px}
pre{background:#f1f3f6;padding:8px;border-radius:6px;overflow:auto;max-height:320px}pre code{background:none;padding:0}
.req{color:#c53030;font-weight:700}.sec{font-size:12px;color:#5b6577}details summary{cursor:pointer;color:#2b6cb0}
</style></head>
<body><header><h1>{{.Title}}</h1><p>{{inline .Summary}}</p><p>API {{.Version}} · {{.Count}} operations · <a href="/openapi.json">openapi.json</a> (OpenAPI 3.1)</p></header>
<main><nav>{{range .Groups}}<h3>{{.Name}}</h3>{{range .Ops}}<a href="#{{anchor .Method .Path}}"><b>{{.Method}}</b> {{.Path}}</a>{{end}}{{end}}{{if .Auth}}<h3>Authentication</h3>{{range .Auth}}<a href="#auth-{{.Name}}">{{.Name}}</a>{{end}}{{end}}<h3>Schemas</h3>{{range .Schemas}}<a href="#schema-{{.Name}}">{{.Name}}</a>{{end}}</nav>
<article><div class="intro">{{range .Description}}<p>{{inline .}}</p>{{end}}</div>
{{range .Groups}}<h2 class="tag">{{.Name}}</h2>{{if .Description}}<p>{{inline .Description}}</p>{{end}}
{{range .Ops}}<section class="op" id="{{anchor .Method .Path}}"><div><span class="m {{lower .Method}}">{{.Method}}</span><span class="path">{{.Path}}</span></div>
<p><b>{{inline .Summary}}</b>{{if .Security}} <span class="sec">auth: {{range $i, $s := .Security}}{{if $i}}, {{end}}<a href="#auth-{{$s}}">{{$s}}</a>{{end}}</span>{{end}}</p>
{{if .Description}}<p>{{inline .Description}}</p>{{end}}
{{if .Params}}<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>{{range .Params}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">*</span>{{end}}</td><td>{{.In}}</td><td>{{$.TypeHTML .Type}}</td><td>{{inline .Description}}</td></tr>{{end}}</table>{{end}}
{{range .Bodies}}<p>Body <code>{{.MediaType}}</code>: {{$.TypeHTML .Schema}}</p>{{if .Example}}<details><summary>example</summary><pre><code>{{.Example}}</code></pre></details>{{end}}{{end}}
<table><tr><th>status</th><th>answer</th><th>description</th></tr>{{range .Responses}}<tr><td><b>{{.Status}}</b></td><td>{{$.TypeHTML .Schema}}</td><td>{{inline .Description}}{{if .Example}}<details><summary>example</summary><pre><code>{{.Example}}</code></pre></details>{{end}}</td></tr>{{end}}</table>
</section>{{end}}{{end}}
{{if .Auth}}<h2 class="tag">Authentication</h2>
{{range .Auth}}<section class="op" id="auth-{{.Name}}"><div class="path">{{.Name}}</div><p>{{.Kind}}{{if .Description}} — {{inline .Description}}{{end}}</p></section>{{end}}{{end}}
<h2 class="tag">Schemas</h2>
{{range .Schemas}}<section class="op" id="schema-{{.Name}}"><div class="path">{{.Name}}</div><p>{{$.TypeHTML .Type}}{{if .Description}} — {{inline .Description}}{{end}}</p>
{{if .Fields}}<table><tr><th>field</th><th>type</th><th>description</th></tr>{{range .Fields}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">*</span>{{end}}</td><td>{{$.TypeHTML .Type}}</td><td>{{inline .Description}}</td></tr>{{end}}</table>{{end}}</section>{{end}}
</article></main></body></html>
`
