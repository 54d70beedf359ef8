package store_test

import (
	"testing"

	"github.com/minato-city/anpi/store"
	"github.com/minato-city/anpi/store/storetest"
)

func TestMemoryBus(t *testing.T) {
	storetest.RunBus(t, func(*testing.T) store.Bus { return store.NewMemoryBus() })
}

func TestMemoryBusAfterClose(t *testing.T) {
	b := store.NewMemoryBus()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
	}{
		{"Publish", b.Publish(t.Context(), "x", nil)},
		{"Subscribe", func() error { _, _, err := b.Subscribe(t.Context(), "x"); return err }()},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s after Close: no error", tc.name)
		}
	}
}
