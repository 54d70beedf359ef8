package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	type body struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	cases := []struct {
		name, ct, in string
		status       int
	}{
		{"ok", "application/json", `{"name":"a","n":1}`, 0},
		{"curl default", "application/x-www-form-urlencoded", `{"name":"a"}`, 0},
		{"xml", "application/xml", `{"name":"a"}`, 415},
		{"multipart", "multipart/form-data; boundary=x", `{}`, 415},
		{"malformed", "", `{"name":`, 400},
		{"unknown field", "", `{"nam":"a"}`, 400},
		{"wrong type", "", `{"n":"one"}`, 400},
		{"two values", "", `{} {}`, 400},
		{"empty", "", ``, 400},
		{"too large", "", `{"name":"` + strings.Repeat("x", 200) + `"}`, 413},
		{"invalid utf8", "", "{\"name\":\"\xff\"}", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.in))
			if c.ct != "" {
				r.Header.Set("Content-Type", c.ct)
			}
			var b body
			err := Decode(httptest.NewRecorder(), r, &b, 100)
			var ae *Error
			switch {
			case c.status == 0 && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.status != 0 && (!errors.As(err, &ae) || ae.Status != c.status):
				t.Fatalf("err %v, want status %d", err, c.status)
			}
		})
	}
}

func TestWriteErrorHidesInternals(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, errors.New("dial tcp 10.0.0.1: secret=hunter2"))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "hunter2") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var b struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error.Code != "internal" {
		t.Fatalf("%s %v", w.Body, err)
	}
}
