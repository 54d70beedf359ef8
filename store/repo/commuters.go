package repo

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/minato-city/anpi/routing"
	"github.com/minato-city/anpi/store"
)

// Commuters gives routing.CommuterStore over a store.Backend.
//
// Staff reports are one document per station code, written with
// store.Backend.Update so that a report never replaces a newer one (one
// transaction on bolt, compare-and-set on Redis). Self-reports are counters
// (store.Backend.Incr, atomic on both engines, no read-modify-write on the
// hot path): one counter set per station and UTC day, one field per
// routing.SelfReportResolution bucket named by its start in Unix seconds.
// Keeping a set per day bounds what one read fetches to two days' buckets.
type Commuters struct{ B store.Backend }

var _ routing.CommuterStore = Commuters{}

const (
	collCommuterStaff = "commuter_staff"
	collCommuterSelf  = "commuter_self"
)

// SetStaffReport implements routing.CommuterStore.
func (s Commuters) SetStaffReport(ctx context.Context, r routing.StaffReport) error {
	if r.Station == "" {
		return fmt.Errorf("staff report: empty station")
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("staff report: %w", err)
	}
	err = s.B.Update(ctx, collCommuterStaff, r.Station, func(old []byte) ([]byte, error) {
		if old != nil {
			var cur routing.StaffReport
			if err := json.Unmarshal(old, &cur); err != nil {
				return nil, fmt.Errorf("staff report %s: decode: %w", r.Station, err)
			}
			if cur.At.After(r.At) {
				return old, nil
			}
		}
		return v, nil
	})
	if err != nil {
		return fmt.Errorf("staff report: %w", err)
	}
	return nil
}

// StaffReports implements routing.CommuterStore.
func (s Commuters) StaffReports(ctx context.Context) ([]routing.StaffReport, error) {
	var out []routing.StaffReport
	err := scanAll(ctx, s.B, collCommuterStaff, "", func(kv store.KV) error {
		var r routing.StaffReport
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return fmt.Errorf("staff report %s: decode: %w", kv.Key, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// selfBucket returns the counter set key and field of station at t.
func selfBucket(station string, t time.Time) (key, field string) {
	b := t.UTC().Truncate(routing.SelfReportResolution)
	return station + "/" + b.Format("20060102"), strconv.FormatInt(b.Unix(), 10)
}

// AddSelfReport implements routing.CommuterStore.
func (s Commuters) AddSelfReport(ctx context.Context, station string, at time.Time, count int) error {
	if station == "" {
		return fmt.Errorf("self report: empty station")
	}
	key, field := selfBucket(station, at)
	if _, err := s.B.Incr(ctx, collCommuterSelf, key, field, int64(count)); err != nil {
		return fmt.Errorf("self report: %w", err)
	}
	return nil
}

// SelfCounts implements routing.CommuterStore: it sums the buckets from the
// one holding since to the one holding until.
func (s Commuters) SelfCounts(ctx context.Context, stations []string, since, until time.Time) (map[string]int, error) {
	from := since.UTC().Truncate(routing.SelfReportResolution).Unix()
	to := until.UTC().Truncate(routing.SelfReportResolution).Unix()
	out := make(map[string]int, len(stations))
	if to < from {
		return out, nil
	}
	firstDay := since.UTC().Truncate(routing.SelfReportResolution)
	for _, st := range stations {
		sum := int64(0)
		for day := firstDay; day.Unix() <= to; day = nextDay(day) {
			key, _ := selfBucket(st, day)
			m, err := s.B.Counters(ctx, collCommuterSelf, key)
			if err != nil {
				return nil, fmt.Errorf("self reports %s: %w", st, err)
			}
			for f, n := range m {
				b, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("self reports %s: bucket %q: %w", st, f, err)
				}
				if b >= from && b <= to {
					sum += n
				}
			}
		}
		if sum > 0 {
			out[st] = int(sum)
		}
	}
	return out, nil
}

// nextDay returns the start of the UTC day after t's.
func nextDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}
