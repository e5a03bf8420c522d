package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestProvidersFromEnv_ReadsEveryProviderVariable(t *testing.T) {
	env := map[string]string{
		"FL_OKPOCK_URL": "https://api.okpock.com", "FL_OKPOCK_USER": "u", "FL_OKPOCK_PASSWORD": "okpock-pw", "FL_OKPOCK_USER_AGENT": "FL/1",
		"FL_REGNUM_URL": "http://regnum:8080/getktype", "FL_REGNUM_ID": "42", "FL_REGNUM_SECCODE": "regnum-sc", "FL_REGNUM_SERVICE": "KZ",
		"FL_VAGVIN_URL": "https://vagvin.example/api/processing_queue", "FL_VAGVIN_TOKEN": "vag-tk", "FL_VAGVIN_CALLBACK_SECRET": "vag-cb",
		"FL_ODOMETER_URL": "https://odo.example", "FL_ODOMETER_TOKEN_URL": "https://odo.example/oauth/token",
		"FL_ODOMETER_CLIENT_ID": "cid", "FL_ODOMETER_CLIENT_SECRET": " odo-cs ",
	}
	got := providersFromEnv(func(k string) string { return env[k] })
	want := Providers{
		Okpock:   Okpock{URL: "https://api.okpock.com", User: "u", Password: "okpock-pw", UserAgent: "FL/1"},
		Regnum:   Regnum{URL: "http://regnum:8080/getktype", ID: "42", Seccode: "regnum-sc", Service: "KZ"},
		VAGVIN:   VAGVIN{URL: "https://vagvin.example/api/processing_queue", Token: "vag-tk", CallbackSecret: "vag-cb"},
		Odometer: Odometer{URL: "https://odo.example", TokenURL: "https://odo.example/oauth/token", ClientID: "cid", ClientSecret: "odo-cs"},
	}
	if got != want {
		t.Errorf("providersFromEnv = %#v\nwant %#v", got, want)
	}
	if empty := providersFromEnv(func(string) string { return "" }); empty != (Providers{}) {
		t.Errorf("empty env = %#v", empty)
	}

	// Printing or logging the configuration shows no credential.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("providers", "okpock", got.Okpock, "regnum", got.Regnum, "vagvin", got.VAGVIN, "odometer", got.Odometer)
	printed := fmt.Sprintf("%v %+v", got, got) + buf.String()
	for _, secret := range []string{"okpock-pw", "regnum-sc", "vag-tk", "vag-cb", "odo-cs"} {
		if strings.Contains(printed, secret) {
			t.Errorf("%q printed: %s", secret, printed)
		}
	}
	if !strings.Contains(printed, "https://api.okpock.com") {
		t.Errorf("URL hidden too: %s", printed)
	}
}
