package main

import (
	"testing"
)

func company(biin, name string) map[string]any {
	return map[string]any{"biin": biin, "name": name, "email": "boss@" + biin + ".kz",
		"director": map[string]any{"first_name": "Дир", "last_name": "Ектор", "mobile": "+77000000000"}, "active": true}
}

func (ta *testApp) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := ta.app.DB.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}
