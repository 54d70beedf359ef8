// Package residents is the directory of people anpi reaches: their contacts
// per channel, area, language, tags (e.g. needs_support) and household, and
// the CSV import that fills it.
package residents

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Areas are the five 地区 of Minato's branch offices.
var Areas = []string{"shiba", "azabu", "akasaka", "takanawa", "shibaura-konan"}

// Languages anpi writes to residents in. "ja-easy" is やさしい日本語.
var Languages = []string{"ja", "en", "zh", "ko", "ja-easy"}

// ErrNotFound is returned when a resident does not exist.
var ErrNotFound = errors.New("resident not found")

// Contacts are a resident's addresses per channel.
type Contacts struct {
	// LINEUserID is the LINE user id (U + 32 hex) of a friend of the ward's account.
	LINEUserID string `json:"line_user_id,omitempty"`
	// Phone is an E.164 mobile number for SMS.
	Phone string `json:"phone,omitempty"`
	// VoicePhone is an E.164 number for voice calls (landline or mobile).
	VoicePhone string `json:"voice_phone,omitempty"`
}

// Resident is one person in the directory.
type Resident struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Language    string   `json:"language"`
	Area        string   `json:"area"`
	Contacts    Contacts `json:"contacts"`
	Tags        []string `json:"tags"`
	HouseholdID string   `json:"household_id,omitempty"`
}

// Store is what the directory needs from storage.
type Store interface {
	// PutResidents stores residents, replacing those with the same id.
	PutResidents(ctx context.Context, rs []Resident) error
	// Resident returns one resident or an error wrapping ErrNotFound.
	Resident(ctx context.Context, id string) (Resident, error)
	// DeleteResident removes a resident; a missing one is not an error.
	DeleteResident(ctx context.Context, id string) error
	// ScanResidents returns up to limit residents with ids after after, in id order.
	ScanResidents(ctx context.Context, after string, limit int) ([]Resident, error)
	// ResidentByLINE returns the resident id that owns a LINE user id.
	ResidentByLINE(ctx context.Context, lineUserID string) (string, error)
	// ResidentsByID returns the residents with ids in one read, lined up with
	// ids; found[i] is false for an unknown id.
	ResidentsByID(ctx context.Context, ids []string) (rs []Resident, found []bool, err error)
	// ResidentIDsByLINE returns the resident ids recorded for LINE user ids
	// in one read, lined up with them ("" for none). The index may be stale:
	// callers check the resident's LINE id.
	ResidentIDsByLINE(ctx context.Context, lineUserIDs []string) ([]string, error)
	// CountResidents returns how many residents there are.
	CountResidents(ctx context.Context) (int, error)
}

var (
	idRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	lineRe = regexp.MustCompile(`^U[0-9a-f]{32}$`)
	e164Re = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	tagRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
)

// FieldError names the field of a resident that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Normalize fills defaults (language ja) and trims spaces. It does not validate.
func (r *Resident) Normalize() {
	r.ID = strings.TrimSpace(r.ID)
	r.Name = strings.TrimSpace(r.Name)
	r.Language = strings.TrimSpace(r.Language)
	if r.Language == "" {
		r.Language = "ja"
	}
	r.Area = strings.TrimSpace(r.Area)
	r.Contacts.LINEUserID = strings.TrimSpace(r.Contacts.LINEUserID)
	r.Contacts.Phone = strings.TrimSpace(r.Contacts.Phone)
	r.Contacts.VoicePhone = strings.TrimSpace(r.Contacts.VoicePhone)
	r.HouseholdID = strings.TrimSpace(r.HouseholdID)
	tags := r.Tags[:0:0]
	for _, t := range r.Tags {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	if tags == nil {
		tags = []string{}
	}
	r.Tags = tags
}

// Validate reports the first problem with r as a *FieldError. Phone numbers
// are never echoed in the reason.
func (r *Resident) Validate() error {
	switch {
	case !idRe.MatchString(r.ID):
		return &FieldError{"id", "must be 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit"}
	case !utf8.ValidString(r.Name) || utf8.RuneCountInString(r.Name) > 200:
		return &FieldError{"name", "must be valid UTF-8 of at most 200 characters"}
	case !slices.Contains(Languages, r.Language):
		return &FieldError{"language", fmt.Sprintf("must be one of %s", strings.Join(Languages, ", "))}
	case !slices.Contains(Areas, r.Area):
		return &FieldError{"area", fmt.Sprintf("must be one of %s", strings.Join(Areas, ", "))}
	case r.Contacts.LINEUserID != "" && !lineRe.MatchString(r.Contacts.LINEUserID):
		return &FieldError{"contacts.line_user_id", "must be U followed by 32 lower-case hex digits"}
	case r.Contacts.Phone != "" && !e164Re.MatchString(r.Contacts.Phone):
		return &FieldError{"contacts.phone", "must be an E.164 number such as +819012345678"}
	case r.Contacts.VoicePhone != "" && !e164Re.MatchString(r.Contacts.VoicePhone):
		return &FieldError{"contacts.voice_phone", "must be an E.164 number such as +81312345678"}
	case len(r.Tags) > 16:
		return &FieldError{"tags", "at most 16 tags"}
	case len(r.HouseholdID) > 64:
		return &FieldError{"household_id", "at most 64 characters"}
	}
	for _, t := range r.Tags {
		if !tagRe.MatchString(t) {
			return &FieldError{"tags", "each tag must be 1-32 characters of a-z 0-9 _ -"}
		}
	}
	return nil
}

// HasTag reports whether r carries tag.
func (r *Resident) HasTag(tag string) bool { return slices.Contains(r.Tags, tag) }

// MaskPhone hides all but the country code and the last three digits of an
// E.164 number, for logs and screens.
func MaskPhone(p string) string {
	if len(p) <= 6 {
		return strings.Repeat("*", len(p))
	}
	return p[:3] + strings.Repeat("*", len(p)-6) + p[len(p)-3:]
}
