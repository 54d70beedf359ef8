package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// GSI property names (指定緊急避難場所・指定避難所データ).
const (
	gsiPropID      = "共通ID"
	gsiPropName    = "施設・場所名"
	gsiPropAddress = "住所"
	gsiPropTarget  = "受入対象者"
	gsiNeedSupport = "要支援者"
)

// ErrUnavailable is returned (wrapped) by LoadGSI for the
// {"type":"unavailable",...} stub that stands in for a municipality that
// published no data.
var ErrUnavailable = errors.New("no data published for this municipality")

type gsiFile struct {
	Type     string       `json:"type"`
	Name     string       `json:"name"`
	Message  string       `json:"message"`
	Features []gsiFeature `json:"features"`
}

type gsiFeature struct {
	Type     string `json:"type"`
	Geometry *struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
	// Property names are Japanese with "・" and "、", which encoding/json
	// does not accept in struct tags, hence the map.
	Properties map[string]any `json:"properties"`
}

// LoadGSI reads a GSI 指定避難所 or 指定緊急避難場所 GeoJSON FeatureCollection
// (Point geometries [lon, lat]) and returns one Facility per feature, in file
// order. kind is KindShelter or KindEvacuationSite (or any valid kind); a
// feature whose 受入対象者 is 要支援者 becomes KindWelfareShelter. The ID is
// the 共通ID, the name 施設・場所名, the address 住所. GSI data has no
// capacity, so every facility gets defaultCapacity and defaultStatus.
// Errors name the zero-based feature index; the "unavailable" stub gives an
// error wrapping ErrUnavailable.
func LoadGSI(r io.Reader, kind string, defaultCapacity int, defaultStatus string) ([]Facility, error) {
	if !ValidKind(kind) {
		return nil, fmt.Errorf("gsi: unknown kind %q", kind)
	}
	if !ValidStatus(defaultStatus) {
		return nil, fmt.Errorf("gsi: unknown status %q", defaultStatus)
	}
	if defaultCapacity < 0 || defaultCapacity > MaxCapacity {
		return nil, fmt.Errorf("gsi: default capacity %d out of range 0..%d", defaultCapacity, MaxCapacity)
	}
	var file gsiFile
	if err := json.NewDecoder(r).Decode(&file); err != nil {
		return nil, fmt.Errorf("gsi: %w", err)
	}
	switch file.Type {
	case "FeatureCollection":
	case "unavailable":
		return nil, fmt.Errorf("gsi: %s: %w (%s)", file.Name, ErrUnavailable, file.Message)
	default:
		return nil, fmt.Errorf("gsi: type %q, want FeatureCollection", file.Type)
	}
	out := make([]Facility, 0, len(file.Features))
	seen := make(map[string]int, len(file.Features))
	for i, ft := range file.Features {
		f, err := gsiFacility(ft, kind, defaultCapacity, defaultStatus)
		if err != nil {
			return nil, fmt.Errorf("gsi: feature %d: %w", i, err)
		}
		if j, dup := seen[f.ID]; dup {
			return nil, fmt.Errorf("gsi: feature %d: 共通ID %s repeats feature %d", i, f.ID, j)
		}
		seen[f.ID] = i
		out = append(out, f)
	}
	return out, nil
}

func gsiFacility(ft gsiFeature, kind string, capacity int, status string) (Facility, error) {
	if ft.Geometry == nil || ft.Geometry.Type != "Point" {
		return Facility{}, errors.New("geometry is not a Point")
	}
	var c []float64
	if err := json.Unmarshal(ft.Geometry.Coordinates, &c); err != nil {
		return Facility{}, fmt.Errorf("point coordinates: %w", err)
	}
	if len(c) < 2 {
		return Facility{}, fmt.Errorf("point has %d coordinates, want [lon, lat]", len(c))
	}
	lng, lat := c[0], c[1]
	if !validLatLng(lat, lng) {
		return Facility{}, fmt.Errorf("coordinates [%v, %v] out of range", lng, lat)
	}
	id, err := gsiString(ft.Properties, gsiPropID)
	if err != nil {
		return Facility{}, err
	}
	name, err := gsiString(ft.Properties, gsiPropName)
	if err != nil {
		return Facility{}, err
	}
	if id == "" {
		return Facility{}, fmt.Errorf("empty %s", gsiPropID)
	}
	if name == "" {
		return Facility{}, fmt.Errorf("%s: empty %s", id, gsiPropName)
	}
	addr, err := gsiString(ft.Properties, gsiPropAddress)
	if err != nil {
		return Facility{}, err
	}
	target, err := gsiString(ft.Properties, gsiPropTarget)
	if err != nil {
		return Facility{}, err
	}
	if target == gsiNeedSupport {
		kind = KindWelfareShelter
	}
	return Facility{
		ID:       id,
		Name:     name,
		Kind:     kind,
		Address:  addr,
		Lat:      lat,
		Lng:      lng,
		Capacity: capacity,
		Status:   status,
	}, nil
}

// gsiString returns a string property, "" for a missing or null one.
func gsiString(props map[string]any, key string) (string, error) {
	v, ok := props[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("property %s is %T, want string", key, v)
	}
	return strings.TrimSpace(s), nil
}
