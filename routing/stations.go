package routing

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Station is a railway station: where stranded commuters gather, and a way to
// give a position without GPS.
type Station struct {
	// Code is the station_database code.
	Code string `json:"code"`
	// Name is the Japanese name, e.g. 品川 or 三田(東京).
	Name string `json:"name"`
	// Kana is the reading in hiragana.
	Kana string `json:"kana"`
	// Lat and Lng are WGS84 degrees.
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
	// Lines are the lines serving the station.
	Lines []string `json:"lines"`
}

// LoadStations reads the stations CSV (header
// code,name,name_kana,lat,lng,...,lines; columns found by name, extra columns
// ignored, lines ';'-separated). Errors name the line number.
func LoadStations(r io.Reader) ([]Station, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("stations: empty file")
	}
	if err != nil {
		return nil, fmt.Errorf("stations: %w", err)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[strings.TrimPrefix(strings.TrimSpace(h), "\ufeff")] = i
	}
	for _, need := range []string{"code", "name", "lat", "lng"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("stations: header lacks column %q", need)
		}
	}
	get := func(rec []string, name string) string {
		i, ok := col[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	var out []Station
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("stations: %w", err)
		}
		line, _ := cr.FieldPos(0)
		s := Station{Code: get(rec, "code"), Name: get(rec, "name"), Kana: get(rec, "name_kana")}
		if s.Code == "" || s.Name == "" {
			return nil, fmt.Errorf("stations: line %d: empty code or name", line)
		}
		s.Lat, err = strconv.ParseFloat(get(rec, "lat"), 64)
		if err != nil {
			return nil, fmt.Errorf("stations: line %d: lat: %w", line, err)
		}
		s.Lng, err = strconv.ParseFloat(get(rec, "lng"), 64)
		if err != nil {
			return nil, fmt.Errorf("stations: line %d: lng: %w", line, err)
		}
		if !validLatLng(s.Lat, s.Lng) {
			return nil, fmt.Errorf("stations: line %d: position %v,%v out of range", line, s.Lat, s.Lng)
		}
		for _, l := range strings.Split(get(rec, "lines"), ";") {
			if l = strings.TrimSpace(l); l != "" {
				s.Lines = append(s.Lines, l)
			}
		}
		out = append(out, s)
	}
	return out, nil
}
