package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/minato-city/anpi/store"
)

// deleteAfterRange is a go-redis hook that, once armed, deletes the keys a
// ZRANGEBYLEX returned (through another client) before the caller reads
// their values: a delete that lands between Scan's two reads.
type deleteAfterRange struct {
	armed atomic.Bool
	other *Backend
	coll  string
}

func (h *deleteAfterRange) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *deleteAfterRange) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}
func (h *deleteAfterRange) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		if c, ok := cmd.(*goredis.StringSliceCmd); ok && cmd.Name() == "zrangebylex" && h.armed.CompareAndSwap(true, false) {
			for _, k := range c.Val() {
				if derr := h.other.Delete(ctx, h.coll, k); derr != nil {
					return derr
				}
			}
		}
		return err
	}
}

// TestScanPageWhoseKeysAllWentIsNotTheEnd: when every key of a page is
// deleted between reading the keys and their values, Scan goes on with the
// keys after them, since callers stop at an empty page.
func TestScanPageWhoseKeysAllWentIsNotTheEnd(t *testing.T) {
	c := testClient(t)
	prefix := testPrefix(t, c)
	ctx := context.Background()
	other := New(c, prefix)
	opts := *c.Options()
	hooked := goredis.NewClient(&opts)
	t.Cleanup(func() { _ = hooked.Close() })
	h := &deleteAfterRange{other: other, coll: "people"}
	hooked.AddHook(h)
	b := New(hooked, prefix)
	var kvs []store.KV
	for i := range 10 {
		kvs = append(kvs, store.KV{Key: fmt.Sprintf("k%02d", i), Value: []byte("v")})
	}
	if err := b.PutMany(ctx, "people", kvs); err != nil {
		t.Fatal(err)
	}
	h.armed.Store(true)
	page, err := b.Scan(ctx, "people", "k03", 3) // k04..k06 vanish
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 || page[0].Key != "k07" || page[2].Key != "k09" {
		t.Fatalf("page %v, want k07..k09", page)
	}
	if page, err = b.Scan(ctx, "people", "k09", 3); err != nil || len(page) != 0 {
		t.Fatalf("after the last key: %v, %v", page, err)
	}
}
