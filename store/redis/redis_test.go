package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/minato-city/anpi/store"
	"github.com/minato-city/anpi/store/storetest"
)

var (
	_ store.Backend = (*Backend)(nil)
	_ store.Bus     = (*Bus)(nil)
)

// testClient connects to ANPI_TEST_REDIS_URL or skips the test.
func testClient(t testing.TB) *goredis.Client {
	t.Helper()
	u := os.Getenv("ANPI_TEST_REDIS_URL")
	if u == "" {
		t.Skip("ANPI_TEST_REDIS_URL not set: skipping Redis backend tests")
	}
	opts, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatalf("ANPI_TEST_REDIS_URL: %v", redact(err, u))
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis ping: %v", redact(err, u))
	}
	return c
}

// testPrefix returns a fresh key prefix and deletes its keys after the test.
func testPrefix(t testing.TB, c *goredis.Client) string {
	t.Helper()
	var r [6]byte
	_, _ = rand.Read(r[:])
	prefix := "anpitest:" + hex.EncodeToString(r[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				t.Errorf("cleanup scan: %v", err)
				return
			}
			if len(keys) > 0 {
				if err := c.Unlink(ctx, keys...).Err(); err != nil {
					t.Errorf("cleanup unlink: %v", err)
					return
				}
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	})
	return prefix
}

func TestConformance(t *testing.T) {
	c := testClient(t)
	storetest.Run(t, func(t *testing.T) store.Backend {
		return New(c, testPrefix(t, c))
	})
}

func TestBus(t *testing.T) {
	c := testClient(t)
	storetest.RunBus(t, func(t *testing.T) store.Bus {
		return NewBus(c, testPrefix(t, c))
	})
}

func TestBusSubscribesOnlyWithSubscribers(t *testing.T) {
	c := testClient(t)
	prefix := testPrefix(t, c)
	b := NewBus(c, prefix)
	t.Cleanup(func() { _ = b.Close() })
	ctx := t.Context()
	numsub := func() int64 {
		t.Helper()
		m, err := c.PubSubNumSub(ctx, prefix+"bus:alerts").Result()
		if err != nil {
			t.Fatal(err)
		}
		return m[prefix+"bus:alerts"]
	}
	if n := numsub(); n != 0 {
		t.Fatalf("subscribed before any subscriber: %d", n)
	}
	_, cancel1, err := b.Subscribe(ctx, "alerts")
	if err != nil {
		t.Fatal(err)
	}
	_, cancel2, err := b.Subscribe(ctx, "alerts")
	if err != nil {
		t.Fatal(err)
	}
	if n := numsub(); n != 1 {
		t.Fatalf("two local subscribers hold %d Redis subscriptions, want 1", n)
	}
	cancel1()
	cancel2()
	// Unsubscribing is asynchronous on the server side; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for numsub() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("still subscribed after the last subscriber left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpen(t *testing.T) {
	u := os.Getenv("ANPI_TEST_REDIS_URL")
	tests := []struct {
		name    string
		url     string
		wantErr bool
		needs   bool // needs a running Redis
	}{
		{"bad scheme", "http://:s3cretpw@127.0.0.1:6379/0", true, false},
		{"bad port", "redis://:s3cretpw@127.0.0.1:notaport/0", true, false},
		{"bad URL", "redis://user:s3cretpw@[::1/0", true, false},
		{"nobody listens", "redis://:s3cretpw@127.0.0.1:1/0", true, false},
		{"escaped password", "redis://:s3cret%25pw@127.0.0.1:1/0", true, false},
		{"ok", u, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs && u == "" {
				t.Skip("ANPI_TEST_REDIS_URL not set: skipping Redis backend tests")
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			b, err := Open(ctx, tc.url, "anpitest:open:")
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if err := b.Ping(ctx); err != nil {
					t.Fatal(err)
				}
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				_ = b.Close()
				t.Fatal("Open succeeded")
			}
			for _, secret := range []string{"s3cretpw", "s3cret%25pw", "s3cret%pw"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows the password: %v", err)
				}
			}
		})
	}
}

func benchBackend(b *testing.B) *Backend {
	c := testClient(b)
	return New(c, testPrefix(b, c))
}

func BenchmarkPutMany500(b *testing.B) {
	storetest.BenchPutMany500(b, benchBackend(b))
}

func BenchmarkEnqueueClaimAck(b *testing.B) {
	storetest.BenchEnqueueClaimAck(b, benchBackend(b))
}

func BenchmarkUpdate(b *testing.B) {
	storetest.BenchUpdate(b, benchBackend(b))
}
