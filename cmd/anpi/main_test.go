package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "anpi ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown: %d %q", code, errs)
	}
}

func TestClassifyJSONL(t *testing.T) {
	code, out, errs := runCmd(t, "無事です\nHelp, I'm trapped under the shelf\n\n", "classify")
	if code != 0 {
		t.Fatalf("classify: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	var r struct{ Label, Source string }
	json.Unmarshal([]byte(lines[1]), &r)
	if r.Label != "needs_help" || r.Source != "rules" {
		t.Fatalf("second reply %s", lines[1])
	}
}

func TestImportResidentsReportsBadRowsByLine(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "r.csv")
	os.WriteFile(csv, []byte("id,name,language,area,line_user_id,phone,voice_phone,tags,household_id\n"+
		"r1,A,ja,shiba,,+819012345678,,,\n"+
		"r2,B,ja,nowhere,,,,,\n"+
		"r3,C,en,azabu,,,,,\n"), 0o600)
	t.Setenv("ANPI_DATA_DIR", filepath.Join(dir, "data"))
	t.Setenv("ANPI_STORE", "embedded")
	t.Setenv("ANPI_CONFIG", "")
	code, out, errs := runCmd(t, "", "import", "residents", csv)
	if code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	if !strings.Contains(out, "imported 2 residents, 1 bad rows") || !strings.Contains(errs, "line 3: area:") {
		t.Fatalf("out %q errs %q", out, errs)
	}
}

func TestBadConfigIsOneLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte("listen: 127.0.0.1:0\nsandboxx: true\n"), 0o600)
	code, _, errs := runCmd(t, "", "serve", "--config", p)
	if code != 1 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, `unknown key "sandboxx"`) {
		t.Fatalf("%d %q", code, errs)
	}
}
