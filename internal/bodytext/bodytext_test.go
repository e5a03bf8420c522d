package bodytext

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/forteleasing/inspections/internal/apperr"
)

type director struct {
	FirstName string `json:"first_name"`
}

type company struct {
	BIIN     string   `json:"biin"`
	Name     string   `json:"name"`
	Director director `json:"director"`
	Tags     []string `json:"tags"`
}

func cp1251(t testing.TB, s string) []byte {
	b, err := charmap.Windows1251.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appErr(t *testing.T, err error) *apperr.Error {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("want an apperr.Error, got %v", err)
	}
	return ae
}

func TestJSON_BOMAndCharsets(t *testing.T) {
	want := `[{"name":"ТОО Альфа"}]`
	utf16, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(want))
	for name, c := range map[string]struct {
		body []byte
		ct   string
	}{
		"plain":                      {[]byte(want), "application/json"},
		"utf-8 BOM":                  {[]byte(bomUTF8 + want), "application/json"},
		"utf-8 BOM, no content type": {[]byte(bomUTF8 + want), ""},
		"utf-8 BOM, charset utf-8":   {[]byte(bomUTF8 + want), "application/json; charset=UTF-8"},
		"windows-1251":               {cp1251(t, want), "application/json; charset=windows-1251"},
		"cp1251 alias":               {cp1251(t, want), "application/json; charset=cp1251"},
		"quoted charset":             {cp1251(t, want), `application/json; charset="Windows-1251"`},
		"utf-16 with BOM":            {utf16, ""},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := JSON(c.body, c.ct, KeysOf[[]company]())
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != want {
				t.Fatalf("got %q", out)
			}
		})
	}
}

func TestJSON_UndeclaredWindows1251IsNamed(t *testing.T) {
	body := append([]byte(`[{"biin":"1","name":"ok"},{"biin":"2","name":"`), cp1251(t, "ТОО")...)
	body = append(body, `"}]`...)
	_, err := JSON(body, "application/json", KeysOf[[]company]())
	ae := appErr(t, err)
	if ae.Code != apperr.Unprocessable || ae.ErrorCode() != "invalid_encoding" {
		t.Fatalf("got %v", ae)
	}
	if len(ae.Fields) != 1 || ae.Fields[0].Field != "name" || ae.Fields[0].Index == nil || *ae.Fields[0].Index != 1 {
		t.Fatalf("fields: %+v", ae.Fields)
	}
	// Without keys (the app's JSON), the place is still named.
	_, err = JSON([]byte("{\"FCM\":\"a\xffb\"}"), "", nil)
	if ae := appErr(t, err); ae.ErrorCode() != "invalid_encoding" || ae.Fields[0].Field != "FCM" {
		t.Fatalf("got %+v", ae)
	}
	_, err = JSON([]byte("{\"director\":{\"first_name\":\"\xc0\"}}"), "", nil)
	if ae := appErr(t, err); ae.Fields[0].Field != "director.first_name" {
		t.Fatalf("got %+v", ae.Fields)
	}
}

func TestJSON_KeysMatchExactlyAndOnce(t *testing.T) {
	for name, c := range map[string]struct {
		body  string
		index int
		field string
	}{
		"wrong case":              {`[{"biin":"1"},{"BIIN":"2"}]`, 1, "BIIN"},
		"wrong case nested":       {`[{"director":{"First_Name":"A"}}]`, 0, "director.First_Name"},
		"duplicate":               {`[{"biin":"1","name":"a","biin":"2"}]`, 0, "biin"},
		"duplicate nested":        {`[{"director":{"first_name":"a","first_name":"b"}}]`, 0, "director.first_name"},
		"duplicate in array elem": {`[{"tags":["x"]},{"name":"a","name":"b"}]`, 1, "name"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := JSON([]byte(c.body), "application/json", KeysOf[[]company]())
			ae := appErr(t, err)
			if ae.Code != apperr.Unprocessable || len(ae.Fields) != 1 {
				t.Fatalf("got %+v", ae)
			}
			f := ae.Fields[0]
			if f.Index == nil || *f.Index != c.index || f.Field != c.field {
				t.Fatalf("got index %v field %q (%s)", f.Index, f.Field, f.Message)
			}
		})
	}
	// Keys that are fine: exact ones, unknown ones (the struct decoder refuses those), and the same key in
	// two different objects.
	for _, ok := range []string{`[{"biin":"1","director":{"first_name":"a"}},{"biin":"1"}]`, `[{"colour":"red"}]`, `[1, "x", null]`} {
		if _, err := JSON([]byte(ok), "", KeysOf[[]company]()); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestCharsetOf_UnknownIsRefused(t *testing.T) {
	_, err := CharsetOf("application/json; charset=klingon")
	if ae := appErr(t, err); ae.ErrorCode() != "unsupported_charset" {
		t.Fatalf("got %v", ae)
	}
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "text/plain; charset=US-ASCII", "garbage;;;"} {
		cs, err := CharsetOf(ct)
		if err != nil || !cs.UTF8() {
			t.Errorf("%q: %v %v", ct, cs, err)
		}
	}
}

func TestForm_BOMCharsetAndInvalidBytes(t *testing.T) {
	v, err := Form([]byte(bomUTF8+"lat=43%2C2389&first_name=%D0%90%D0%B9&lat=1"), "application/x-www-form-urlencoded")
	if err != nil || v["lat"] != "43,2389" || v["first_name"] != "Ай" {
		t.Fatalf("%v %v", v, err)
	}
	v, err = Form([]byte("first_name=%C0%E9"), "application/x-www-form-urlencoded; charset=windows-1251")
	if err != nil || v["first_name"] != "Ай" {
		t.Fatalf("%v %v", v, err)
	}
	_, err = Form([]byte("uuid=x&first_name=%C0%E9"), "application/x-www-form-urlencoded")
	if ae := appErr(t, err); ae.ErrorCode() != "invalid_encoding" || ae.Fields[0].Field != "first_name" {
		t.Fatalf("got %+v", ae)
	}
	_, err = Form([]byte("a=%zz"), "")
	if ae := appErr(t, err); ae.Code != apperr.Invalid {
		t.Fatalf("got %+v", ae)
	}
}

func TestText_NamesTheByte(t *testing.T) {
	_, err := Text([]byte(bomUTF8+"ab\xffc"), "")
	ae := appErr(t, err)
	if ae.ErrorCode() != "invalid_encoding" || !strings.Contains(ae.Fields[0].Message, "byte 5") {
		t.Fatalf("got %+v", ae.Fields)
	}
}

// FuzzBodyText: whatever the bytes and the declared charset, a body is either refused as a client error
// (4xx, with fields that are valid UTF-8) or returned as valid UTF-8 without a BOM; a JSON body that
// succeeds decodes with encoding/json to the same values as its text, and windows-1251 round-trips.
func FuzzBodyText(f *testing.F) {
	cts := []string{"", "application/json", "application/json; charset=utf-8", "application/json; charset=windows-1251",
		"application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=cp1251", "text/plain; charset=koi8-r",
		"application/json; charset=utf-16le", "application/json; charset=nope"}
	for _, s := range []string{`[{"biin":"1","name":"ТОО"}]`, bomUTF8 + `[{"BIIN":"1"}]`, "[{\"name\":\"\xc0\xe9\"}]",
		`[{"biin":"1","biin":"2"}]`, "\xff\xfe[\x00]\x00", bomUTF8 + "lat=43%2C1&long=76,9", "a=%D0%90", `{"director":{"first_name":[1,{"a":2}]}}`} {
		for i := range cts {
			f.Add([]byte(s), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, ctIndex uint8) {
		ct := cts[int(ctIndex)%len(cts)]
		clientError := func(err error) {
			t.Helper()
			var ae *apperr.Error
			if !errors.As(err, &ae) || (ae.Code != apperr.Invalid && ae.Code != apperr.Unprocessable) {
				t.Fatalf("%q (%s): %v is not a client error", body, ct, err)
			}
			for _, fe := range ae.Fields {
				if !utf8.ValidString(fe.Field) || !utf8.ValidString(fe.Message) {
					t.Fatalf("field error is not UTF-8: %+v", fe)
				}
			}
		}
		out, err := JSON(body, ct, KeysOf[[]company]())
		if err != nil {
			clientError(err)
		} else {
			if !utf8.Valid(out) || bytes.HasPrefix(out, []byte(bomUTF8)) {
				t.Fatalf("%q (%s) → %q", body, ct, out)
			}
			var a, b any
			if json.Unmarshal(out, &a) == nil {
				if err := json.Unmarshal(bytes.ToValidUTF8(out, []byte("\uFFFD")), &b); err != nil {
					t.Fatal(err)
				}
			}
		}
		if v, err := Form(body, ct); err != nil {
			clientError(err)
		} else {
			for k, s := range v {
				if !utf8.ValidString(k) || !utf8.ValidString(s) {
					t.Fatalf("form %q → %q=%q", body, k, s)
				}
			}
		}
		// Text that windows-1251 can encode comes back unchanged when declared.
		if utf8.Valid(body) && !bytes.ContainsRune(body, utf8.RuneError) {
			if enc, err := charmap.Windows1251.NewEncoder().Bytes(body); err == nil && !bytes.HasPrefix(body, []byte(bomUTF8)) {
				back, err := Text(enc, "text/plain; charset=windows-1251")
				if err != nil || !bytes.Equal(back, body) {
					t.Fatalf("%q → %q → %q %v", body, enc, back, err)
				}
			}
		}
	})
}
