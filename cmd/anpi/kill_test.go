package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/minato-city/anpi/sandbox"
)

// TestKillDashNineMidSendResumes builds the real binary, starts a send to
// 20,000 LINE users through a slow, rate-limited provider, kills the server
// with SIGKILL in the middle of it, starts it again on the same data, and
// checks that the send completes with every user reached exactly once — on
// the embedded store, and on Redis when ANPI_TEST_REDIS_URL is set.
func TestKillDashNineMidSendResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Run("embedded", func(t *testing.T) { testKillDashNine(t, "embedded") })
	t.Run("redis", func(t *testing.T) {
		if os.Getenv("ANPI_TEST_REDIS_URL") == "" {
			t.Skip("ANPI_TEST_REDIS_URL not set")
		}
		testKillDashNine(t, "redis")
	})
}

// redisConfig writes a copy of configs/anpi.yaml whose Redis keys live under
// a prefix of their own, and removes those keys when the test ends.
func redisConfig(t *testing.T, dir, redisURL string) string {
	t.Helper()
	data, err := os.ReadFile("../../configs/anpi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("anpikill:%d:", time.Now().UnixNano())
	const line = `prefix: "anpi:"`
	if !bytes.Contains(data, []byte(line)) {
		t.Fatalf("configs/anpi.yaml has no %s line to replace", line)
	}
	data = bytes.Replace(data, []byte(line), []byte(`prefix: "`+prefix+`"`), 1)
	path := filepath.Join(dir, "anpi.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			c.Unlink(ctx, keys[:n]...)
			keys = keys[n:]
		}
	})
	return path
}

func testKillDashNine(t *testing.T, backend string) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "anpi")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	const lineSecret, lineToken, sid, twToken = "kill-line-secret", "kill-line-token", "AC0123456789abcdef0123456789abcdef", "killtwiliotoken0123456789abcdefg"
	ext, err := sandbox.Start(sandbox.Config{
		// 40 multicasts of 500 at 10/s, each answered after 300 ms: the send
		// takes about four seconds, and at any moment about three requests
		// are in flight when the server is killed.
		LINE:   sandbox.LINEConfig{AccessToken: lineToken, MulticastRPS: 10, Latency: 300 * time.Millisecond},
		Twilio: sandbox.TwilioConfig{AccountSID: sid, AuthToken: twToken, MessagesPerSecond: -1, CallsPerSecond: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close(context.Background())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	const admin = "kill-test-admin-token-0123456789"
	config, redisURL := "configs/anpi.yaml", os.Getenv("ANPI_TEST_REDIS_URL")
	if backend == "redis" {
		config = redisConfig(t, dir, redisURL)
	}
	envv := append(os.Environ(), "ANPI_CONFIG="+config, "ANPI_LISTEN="+addr, "ANPI_PUBLIC_URL="+base,
		"ANPI_DATA_DIR="+filepath.Join(dir, "data"), "ANPI_STORE="+backend, "ANPI_SANDBOX=false",
		"ANPI_LINE_ENDPOINT="+ext.URL, "ANPI_TWILIO_BASE_URL="+ext.URL, "ANPI_OPENAI_BASE_URL="+ext.URL+"/v1",
		"LINE_CHANNEL_SECRET="+lineSecret, "LINE_CHANNEL_ACCESS_TOKEN="+lineToken, "TWILIO_ACCOUNT_SID="+sid,
		"TWILIO_AUTH_TOKEN="+twToken, "OPENAI_API_KEY=sk-unused", "ANPI_ADMIN_TOKEN="+admin,
		"ANPI_SIGNAGE_TOKENS=shinagawa-konan=kill-screen-token-0001,akasaka=kill-screen-token-0002")
	if backend == "redis" {
		envv = append(envv, "ANPI_REDIS_URL="+redisURL)
	}
	var logs syncBuffer // the servers' logs, shown when the test fails
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	serve := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve")
		cmd.Env, cmd.Dir = envv, "../.."
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			if res, err := http.Get(base + "/readyz"); err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					return cmd
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("server did not become ready")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	call := func(method, path, token string, body, out any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = bytes.NewReader(data)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		if out != nil {
			json.NewDecoder(res.Body).Decode(out)
		}
		return res.StatusCode
	}

	srv := serve()
	defer func() { srv.Process.Kill(); srv.Wait() }()
	const users = 20_000
	var rs []map[string]any
	for i := range users {
		rs = append(rs, map[string]any{"id": fmt.Sprintf("k%06d", i), "name": "K", "language": "ja", "area": "shiba",
			"contacts": map[string]string{"line_user_id": fmt.Sprintf("U%032x", 0xabc0000+i)}})
		if len(rs) == 2000 {
			if code := call("POST", "/api/v1/residents", admin, rs, nil); code/100 != 2 {
				t.Fatalf("residents: %d", code)
			}
			rs = rs[:0]
		}
	}
	var tok struct{ Token string }
	if code := call("POST", "/api/v1/staff", admin, map[string]string{"name": "approver1", "role": "approver", "password": "correct-horse-battery"}, &tok); code != 201 {
		t.Fatalf("staff: %d", code)
	}
	var created struct{ ID string }
	if code := call("POST", "/api/v1/alerts", admin, map[string]any{"severity": "severe", "title": map[string]string{"ja": "地震"},
		"body": map[string]string{"ja": "揺れに警戒"}, "target": map[string]any{"all": true}, "channels": []string{"line"}, "drill": true}, &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := call("POST", "/api/v1/alerts/"+created.ID+"/approve", tok.Token, nil, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	var view struct {
		Status string
		Counts map[string]struct{ Planned, Sent int }
	}
	// Kill it once some but not all multicasts went out.
	deadline := time.Now().Add(60 * time.Second)
	for {
		call("GET", "/api/v1/alerts/"+created.ID, admin, nil, &view)
		if s := view.Counts["line"].Sent; s >= 3000 && s < users-3000 {
			break
		}
		if view.Status == "completed" || time.Now().After(deadline) {
			t.Fatalf("could not catch the send in the middle: %+v", view)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := srv.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	before := ext.LINE.Stats()
	t.Logf("killed at %d sent; provider had %+v", view.Counts["line"].Sent, before)

	srv = serve()
	// Batches that were in flight are leased to the dead process; the
	// restarted instance recognises its earlier run and takes them over at
	// once, well before the 2-minute lease would run out.
	deadline = time.Now().Add(90 * time.Second)
	for view.Status != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("send did not complete after restart: %+v", view)
		}
		time.Sleep(100 * time.Millisecond)
		call("GET", "/api/v1/alerts/"+created.ID, admin, nil, &view)
	}
	// Planned includes the demo residents the default config seeds.
	if c := view.Counts["line"]; c.Sent != c.Planned || c.Planned < users {
		t.Fatalf("counts after restart %+v", view.Counts)
	}
	var twice []string
	for i := range users {
		if n := ext.LINE.Delivered(fmt.Sprintf("U%032x", 0xabc0000+i)); n != 1 {
			twice = append(twice, fmt.Sprintf("user %d: %d", i, n))
		}
	}
	if len(twice) > 0 {
		t.Fatalf("%d users not reached exactly once, e.g. %s", len(twice), strings.Join(twice[:min(5, len(twice))], "; "))
	}
}

// syncBuffer is a bytes.Buffer safe for the two writers of a child process.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
