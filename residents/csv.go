package residents

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// CSVHeader is the header the residents CSV must start with.
var CSVHeader = []string{"id", "name", "language", "area", "line_user_id", "phone", "voice_phone", "tags", "household_id"}

// ReadCSV reads the residents CSV (header CSVHeader, tags ';'-separated) and
// calls good for every valid row and bad for every invalid one, with its
// 1-based line number. A broken header or an unreadable file is an error;
// bad rows are not.
func ReadCSV(r io.Reader, good func(line int, res Resident) error, bad func(RowError)) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return fmt.Errorf("residents csv: header: %w", err)
	}
	if len(head) > 0 {
		head[0] = strings.TrimPrefix(head[0], "\ufeff")
	}
	if !slices.Equal(head, CSVHeader) {
		return fmt.Errorf("residents csv: header must be %s", strings.Join(CSVHeader, ","))
	}
	for {
		rec, err := cr.Read()
		line, _ := cr.FieldPos(0)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad(RowError{Row: pe.Line, Reason: pe.Err.Error()})
				continue
			}
			return fmt.Errorf("residents csv: %w", err)
		}
		if len(rec) != len(CSVHeader) {
			bad(RowError{Row: line, Reason: fmt.Sprintf("has %d fields, want %d", len(rec), len(CSVHeader))})
			continue
		}
		res := Resident{
			ID: rec[0], Name: rec[1], Language: rec[2], Area: rec[3],
			Contacts:    Contacts{LINEUserID: rec[4], Phone: rec[5], VoicePhone: rec[6]},
			HouseholdID: rec[8],
		}
		if rec[7] != "" {
			res.Tags = strings.Split(rec[7], ";")
		}
		res.Normalize()
		if err := res.Validate(); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				bad(RowError{Row: line, Field: fe.Field, Reason: fe.Reason})
			} else {
				bad(RowError{Row: line, Reason: err.Error()})
			}
			continue
		}
		if err := good(line, res); err != nil {
			return err
		}
	}
}
