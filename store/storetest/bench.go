package storetest

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-city/anpi/store"
)

// BenchPutMany500 measures PutMany of 500 records of about 200 bytes each
// and reports records/s.
func BenchPutMany500(b *testing.B, s store.Backend) {
	ctx := b.Context()
	val := make([]byte, 200)
	for i := range val {
		val[i] = 'a' + byte(i%26)
	}
	kvs := make([]store.KV, 500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range kvs {
			kvs[j] = store.KV{Key: fmt.Sprintf("d%08d:%03d", i, j), Value: val}
		}
		if err := s.PutMany(ctx, "bench", kvs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(500*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchEnqueueClaimAck measures one message through Enqueue, Claim and Ack,
// from one goroutine and from GOMAXPROCS*4 goroutines, and reports msgs/s.
func BenchEnqueueClaimAck(b *testing.B, s store.Backend) {
	payload := make([]byte, 200)
	b.Run("serial", func(b *testing.B) {
		ctx := b.Context()
		for b.Loop() {
			if err := s.Enqueue(ctx, "bench-serial", payload); err != nil {
				b.Fatal(err)
			}
			msgs, err := s.Claim(ctx, "bench-serial", "c", 1, time.Hour, 0)
			if err != nil || len(msgs) != 1 {
				b.Fatalf("Claim = %d, %v", len(msgs), err)
			}
			if err := s.Ack(ctx, "bench-serial", msgs[0].ID); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		ctx := b.Context()
		var n atomic.Int64
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			c := fmt.Sprintf("c%d", n.Add(1))
			for pb.Next() {
				if err := s.Enqueue(ctx, "bench-par", payload); err != nil {
					b.Error(err)
					return
				}
				msgs, err := s.Claim(ctx, "bench-par", c, 1, time.Hour, time.Second)
				if err != nil {
					b.Error(err)
					return
				}
				for _, m := range msgs {
					if err := s.Ack(ctx, "bench-par", m.ID); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchUpdate measures Update of small JSON records from GOMAXPROCS*4
// goroutines, each on its own key of one collection, and reports updates/s.
func BenchUpdate(b *testing.B, s store.Backend) {
	ctx := b.Context()
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Sprintf("k%d", n.Add(1))
		for pb.Next() {
			err := s.Update(ctx, "bench-upd", key, func(old []byte) ([]byte, error) {
				var rec struct {
					N      int    `json:"n"`
					Status string `json:"status"`
				}
				if old != nil {
					if err := json.Unmarshal(old, &rec); err != nil {
						return nil, err
					}
				}
				rec.N++
				rec.Status = "sent"
				return json.Marshal(rec)
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}
