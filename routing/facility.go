// Package routing is the facilities side of anpi: the registry of shelters,
// evacuation sites and temporary-stay facilities with their live status and
// capacity, the loaders for the real Minato data (GSI GeoJSON, stations,
// ward boundary), walking-distance geometry, and the spatial index that
// answers "the k nearest open facilities with room for my party".
//
// The package is a domain package: it never imports a storage backend, the
// ops console or the sandbox. It declares what it needs (Store, Publisher)
// and is wired together elsewhere.
package routing

import (
	"fmt"
	"math"
	"time"
)

// Facility kinds.
const (
	// KindShelter is a 指定避難所 (designated shelter) for residents.
	KindShelter = "shelter"
	// KindWelfareShelter is a 福祉避難所: a designated shelter whose
	// 受入対象者 is 要支援者 (people who need support).
	KindWelfareShelter = "welfare_shelter"
	// KindEvacuationSite is a 指定緊急避難場所 (designated emergency
	// evacuation site): a place to flee to, not to stay in.
	KindEvacuationSite = "evacuation_site"
	// KindTemporaryStay is a 一時滞在施設: a temporary-stay facility for
	// stranded commuters (帰宅困難者).
	KindTemporaryStay = "temporary_stay"
)

// Facility statuses.
const (
	// StatusClosed means the facility is not operating.
	StatusClosed = "closed"
	// StatusChecking means staff are checking the building's safety.
	StatusChecking = "checking"
	// StatusOpen means the facility accepts people.
	StatusOpen = "open"
	// StatusFull means the facility is open but has no free places.
	StatusFull = "full"
	// StatusUnsafe means the building was judged unsafe; nobody is sent there.
	StatusUnsafe = "unsafe"
)

// MaxCapacity is the largest capacity an operator may enter for one facility.
const MaxCapacity = 100000

// Facility is one place people can be sent to, with its live capacity.
type Facility struct {
	// ID is stable: the GSI 共通ID for GSI data.
	ID string `json:"id"`
	// Name is the Japanese name (施設・場所名).
	Name string `json:"name"`
	// NameEN is the English name, when known.
	NameEN string `json:"name_en,omitempty"`
	// Kind is one of the Kind* constants.
	Kind string `json:"kind"`
	// Address is the postal address (住所).
	Address string `json:"address,omitempty"`
	// Lat and Lng are WGS84 degrees.
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
	// Capacity is the number of people the facility can take.
	Capacity int `json:"capacity"`
	// Occupancy is the number of people checked in.
	Occupancy int `json:"occupancy"`
	// Held is the number of places under soft holds (advice given, person
	// on the way).
	Held int `json:"held"`
	// Status is one of the Status* constants.
	Status string `json:"status"`
	// Accessible is true for step-free access.
	Accessible bool `json:"accessible"`
	// Pets is true when pets are accepted.
	Pets bool `json:"pets"`
	// UpdatedAt is the time of the last change.
	UpdatedAt time.Time `json:"updated_at"`
}

// Free returns the places still free: capacity minus occupancy minus holds,
// never below zero.
func (f Facility) Free() int {
	return max(0, f.Capacity-f.Occupancy-f.Held)
}

// ValidKind reports whether k is one of the Kind* constants.
func ValidKind(k string) bool {
	switch k {
	case KindShelter, KindWelfareShelter, KindEvacuationSite, KindTemporaryStay:
		return true
	}
	return false
}

// ValidStatus reports whether s is one of the Status* constants.
func ValidStatus(s string) bool {
	switch s {
	case StatusClosed, StatusChecking, StatusOpen, StatusFull, StatusUnsafe:
		return true
	}
	return false
}

// Validate checks a facility's fields: ID, name, kind, status, coordinates
// and counts (0 ≤ occupancy ≤ capacity ≤ MaxCapacity, held ≥ 0).
func (f Facility) Validate() error {
	switch {
	case f.ID == "":
		return fmt.Errorf("facility: empty id")
	case f.Name == "":
		return fmt.Errorf("facility %s: empty name", f.ID)
	case !ValidKind(f.Kind):
		return fmt.Errorf("facility %s: unknown kind %q", f.ID, f.Kind)
	case !ValidStatus(f.Status):
		return fmt.Errorf("facility %s: unknown status %q", f.ID, f.Status)
	case !validLatLng(f.Lat, f.Lng):
		return fmt.Errorf("facility %s: position %v,%v out of range", f.ID, f.Lat, f.Lng)
	case f.Capacity < 0 || f.Capacity > MaxCapacity:
		return fmt.Errorf("facility %s: capacity %d out of range 0..%d", f.ID, f.Capacity, MaxCapacity)
	case f.Occupancy < 0 || f.Occupancy > f.Capacity:
		return fmt.Errorf("facility %s: occupancy %d out of range 0..capacity %d", f.ID, f.Occupancy, f.Capacity)
	case f.Held < 0:
		return fmt.Errorf("facility %s: negative held %d", f.ID, f.Held)
	}
	return nil
}

func validLatLng(lat, lng float64) bool {
	return !math.IsNaN(lat) && !math.IsNaN(lng) && lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180
}
