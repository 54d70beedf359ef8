package routing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/language"

	"github.com/minato-city/anpi/httpapi"
)

// The public commuter pages (issue 5): GET /shelters, the check-in page of a
// facility, and the QR codes that lead to it. Everything they ship is in
// web/ and embedded: no framework, no third-party host, no map tiles, so the
// pages work on a weak phone and on a congested or cut-off network, and the
// page with its assets stays well under 100 KB.
//
// Live updates are a poll of GET /shelters/nearest every 15 s with ETag /
// If-None-Match (answered 304 when nothing changed) rather than SSE: a poll
// survives flaky mobile links and proxies without reconnect logic, holds no
// connection per commuter on the server during a crowd, and costs a few
// hundred bytes when nothing changed.

//go:embed web
var webFS embed.FS

// Languages of the public pages, the first the default.
var pageLangs = []language.Tag{language.Japanese, language.English, language.Chinese, language.Korean}

var pageLangMatcher = language.NewMatcher(pageLangs)

// MaxPageParty is the largest party the commuter page asks room for: larger
// groups are handled by staff, not by a self-service page.
const MaxPageParty = 20

// DefaultPageLimit is the number of facilities the commuter page lists.
const DefaultPageLimit = 5

// holdIDRe is the shape of a hold ID (see newHoldID), checked before a hold
// ID goes into a QR code.
var holdIDRe = regexp.MustCompile(`^h_[0-9a-z]{1,13}_[0-9a-z]{16,64}$`)

// PageOptions configures PageHandler.
type PageOptions struct {
	// Stations are offered as a way to give a position without GPS.
	Stations []Station
	// PublicURL is the base URL of links in QR codes (e.g.
	// https://anpi.example); required.
	PublicURL string
}

// pages serves the public commuter pages.
type pages struct {
	svc       *Service
	opts      PageOptions
	base      string                        // PublicURL without trailing slash
	tmpl      map[string]*template.Template // by language
	dicts     map[string]map[string]string  // by language
	maps      map[string]template.HTML      // by language
	assets    map[string]asset
	langNames map[string]string
}

// asset is an embedded static file with its validator.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// PageHandler serves the public commuter pages:
//
//	GET /shelters                      the commuter page (?lang=ja|en|zh|ko)
//	GET /shelters/nearest?lat&lng&party[&limit]  its live data, with ETag
//	GET /shelters/checkin/{facility}   check-in page (?hold= prefills it)
//	GET /shelters/qr/{facility}.svg    QR code of the check-in page link
//	                                   (?hold= adds the hold to the link)
//	GET /shelters/static/{file}        the embedded CSS and JS
//
// The language is ?lang= when given, else the best match of
// Accept-Language, else Japanese. Mount it behind the public rate limiter.
func (s *Service) PageHandler(opts PageOptions) (http.Handler, error) {
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("pages: public URL %q is not an http(s) URL", opts.PublicURL)
	}
	p := &pages{svc: s, opts: opts, base: strings.TrimRight(opts.PublicURL, "/"), assets: map[string]asset{}}
	raw, err := webFS.ReadFile("web/i18n.json")
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	if err := json.Unmarshal(raw, &p.dicts); err != nil {
		return nil, fmt.Errorf("pages: i18n.json: %w", err)
	}
	p.langNames = map[string]string{}
	for _, t := range pageLangs {
		d, ok := p.dicts[t.String()]
		if !ok {
			return nil, fmt.Errorf("pages: i18n.json lacks language %s", t)
		}
		p.langNames[t.String()] = d["lang_name"]
	}
	for name, ctype := range map[string]string{
		"app.css": "text/css; charset=utf-8", "shelters.js": "text/javascript; charset=utf-8", "checkin.js": "text/javascript; charset=utf-8",
	} {
		body, err := webFS.ReadFile("web/" + name)
		if err != nil {
			return nil, fmt.Errorf("pages: %w", err)
		}
		sum := sha256.Sum256(body)
		p.assets[name] = asset{body: body, ctype: ctype, etag: hex.EncodeToString(sum[:8])}
	}
	p.tmpl, p.maps = map[string]*template.Template{}, map[string]template.HTML{}
	for lang, dict := range p.dicts {
		t, err := template.New("").Funcs(template.FuncMap{
			"t": func(k string) string {
				if v, ok := dict[k]; ok {
					return v
				}
				return k
			},
			"asset": p.assetURL,
		}).ParseFS(webFS, "web/*.html")
		if err != nil {
			return nil, fmt.Errorf("pages: %w", err)
		}
		p.tmpl[lang] = t
		p.maps[lang] = mapSVG(s.opts.Boundary, s.List(), dict["map"])
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /shelters", p.shelters)
	mux.HandleFunc("GET /shelters/nearest", p.nearest)
	mux.HandleFunc("GET /shelters/checkin/{facility}", p.checkin)
	mux.HandleFunc("GET /shelters/qr/{file}", p.qr)
	mux.HandleFunc("GET /shelters/static/{file}", p.static)
	return secureHeaders(mux), nil
}

// secureHeaders sets the headers every public page response carries: a
// content security policy that allows nothing from other hosts.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func (p *pages) assetURL(name string) (string, error) {
	a, ok := p.assets[name]
	if !ok {
		return "", fmt.Errorf("no asset %q", name)
	}
	return "/shelters/static/" + name + "?v=" + a.etag, nil
}

// lang picks the page language: ?lang=, else Accept-Language, else ja.
func (p *pages) lang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l != "" {
		if _, ok := p.dicts[l]; ok {
			return l
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, conf := pageLangMatcher.Match(tags...)
	if conf == language.No {
		return pageLangs[0].String()
	}
	return pageLangs[i].String()
}

type langLink struct{ Code, Name, Href string }

// render executes the named page template in lang with data fields.
func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name, lang string, data map[string]any) {
	q := r.URL.Query()
	links := make([]langLink, 0, len(pageLangs))
	for _, tag := range pageLangs {
		q.Set("lang", tag.String())
		links = append(links, langLink{Code: tag.String(), Name: p.langNames[tag.String()], Href: r.URL.Path + "?" + q.Encode()})
	}
	data["Lang"], data["Langs"], data["Dict"], data["Map"] = lang, links, p.dicts[lang], p.maps[lang]
	var buf bytes.Buffer
	if err := p.tmpl[lang].ExecuteTemplate(&buf, name, data); err != nil {
		httpapi.WriteError(w, fmt.Errorf("page %s: %w", name, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", lang)
	h.Set("Vary", "Accept-Language")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (p *pages) shelters(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "shelters.html", p.lang(r), map[string]any{
		"Stations": p.opts.Stations,
	})
}

func (p *pages) checkin(w http.ResponseWriter, r *http.Request) {
	lang := p.lang(r)
	f, ok := p.svc.Get(r.PathValue("facility"))
	if !ok {
		p.render(w, r, http.StatusNotFound, "notfound.html", lang, map[string]any{})
		return
	}
	hold := strings.ToLower(r.URL.Query().Get("hold"))
	if !holdIDRe.MatchString(hold) {
		hold = ""
	}
	w.Header().Set("Cache-Control", "no-store") // may carry a hold ID
	p.render(w, r, http.StatusOK, "checkin.html", lang, map[string]any{"Facility": f, "HoldID": hold})
}

// PageMatch is one facility of GET /shelters/nearest: the fields the
// commuter page shows, nothing more.
type PageMatch struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	NameEN      string  `json:"name_en,omitempty"`
	Kind        string  `json:"kind"`
	Lat         float64 `json:"lat"`
	Lng         float64 `json:"lng"`
	Free        int     `json:"free"`
	DistanceM   float64 `json:"distance_m"`
	WalkMinutes int     `json:"walk_minutes"`
	Accessible  bool    `json:"accessible,omitempty"`
	Pets        bool    `json:"pets,omitempty"`
}

// nearest serves the page's live data: Service.Nearest (same checks and
// errors as the public API), party capped at MaxPageParty, with a strong
// ETag over the body so that the 15 s poll costs a 304 when nothing
// changed.
func (p *pages) nearest(w http.ResponseWriter, r *http.Request) {
	ms, err := p.nearestQuery(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]PageMatch, len(ms))
	for i, m := range ms {
		f := m.Facility
		out[i] = PageMatch{ID: f.ID, Name: f.Name, NameEN: f.NameEN, Kind: f.Kind, Lat: f.Lat, Lng: f.Lng,
			Free: m.Free, DistanceM: m.DistanceM, WalkMinutes: m.WalkMinutes, Accessible: f.Accessible, Pets: f.Pets}
	}
	body, err := json.Marshal(out)
	if err != nil {
		httpapi.WriteError(w, fmt.Errorf("nearest: %w", err))
		return
	}
	h := fnv.New64a()
	h.Write(body)
	serveConditional(w, r, body, "application/json; charset=utf-8", strconv.FormatUint(h.Sum64(), 36), "no-cache")
}

// nearestQuery parses and runs the query of GET /shelters/nearest.
func (p *pages) nearestQuery(r *http.Request) ([]Match, error) {
	q := r.URL.Query()
	lat, err := floatParam(q.Get("lat"), "lat")
	if err != nil {
		return nil, err
	}
	lng, err := floatParam(q.Get("lng"), "lng")
	if err != nil {
		return nil, err
	}
	limit, err := intParam(q.Get("limit"), "limit", DefaultPageLimit)
	if err != nil {
		return nil, err
	}
	party, err := intParam(q.Get("party"), "party", 1)
	if err != nil {
		return nil, err
	}
	if party < 1 || party > MaxPageParty {
		return nil, httpapi.BadRequest("party must be between 1 and %d", MaxPageParty)
	}
	return p.svc.Nearest(lat, lng, limit, party)
}

// serveConditional writes body with a strong ETag, or 304 when the request's
// If-None-Match has it.
func serveConditional(w http.ResponseWriter, r *http.Request, body []byte, ctype, tag, cacheControl string) {
	etag := `"` + tag + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", cacheControl)
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for c := range strings.SplitSeq(inm, ",") {
			if c = strings.TrimSpace(c); c == etag || c == "*" {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func (p *pages) static(w http.ResponseWriter, r *http.Request) {
	a, ok := p.assets[r.PathValue("file")]
	if !ok {
		httpapi.WriteError(w, httpapi.NotFound("no such file"))
		return
	}
	// URLs carry the content hash (?v=), so a cached copy never goes stale
	// and the page works from cache when the network is gone.
	serveConditional(w, r, a.body, a.ctype, a.etag, "public, max-age=604800, immutable")
}

// qr serves /shelters/qr/{facility}.svg: the QR code of the facility's
// check-in page, for a poster at the entrance; with ?hold= a commuter's
// hold, the link carries it (shown to staff, or scanned to self check in).
func (p *pages) qr(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	f, found := p.svc.Get(id)
	if !ok || !found {
		httpapi.WriteError(w, httpapi.NotFound("no facility %q", id))
		return
	}
	link := p.base + "/shelters/checkin/" + url.PathEscape(f.ID)
	cache := "public, max-age=86400"
	if hold := r.URL.Query().Get("hold"); hold != "" {
		if !holdIDRe.MatchString(hold) {
			httpapi.WriteError(w, httpapi.BadRequest("hold is not a hold ID"))
			return
		}
		link += "?hold=" + hold
		cache = "private, no-store"
	}
	svg, err := qrSVG(link, f.Name)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	sum := sha256.Sum256(svg)
	serveConditional(w, r, svg, "image/svg+xml", hex.EncodeToString(sum[:8]), cache)
}

// SelfCheckInRequest is the body of POST /api/v1/holds/{id}/checkin.
type SelfCheckInRequest struct {
	// FacilityID is the facility of the hold.
	FacilityID string `json:"facility_id"`
	// Count is the number of people arriving, 1..the hold's party; 0 or
	// absent means the whole party.
	Count int `json:"count,omitempty"`
}

// SelfCheckInResult is the answer to a self check-in.
type SelfCheckInResult struct {
	// Facility is the facility after the check-in.
	Facility Facility `json:"facility"`
	// Count is the number of people checked in.
	Count int `json:"count"`
}

// SelfCheckIn turns the live hold holdID at facility id into a check-in of
// count people (0: the whole party). It is the public, unauthenticated
// check-in: the hold ID is the capability, so it can only use the places
// that hold kept, never more (count above the party is refused) and never
// someone else's. Places held but not used are freed.
//
// Errors (nothing changes): 400 for an empty facility or hold ID or count
// outside 0..MaxPageParty or above the party; 404 for an unknown facility or
// hold (also one already used); 410 hold_expired; 409 facility_<status> when
// the facility no longer takes people.
func (s *Service) SelfCheckIn(ctx context.Context, id, holdID string, count int) (SelfCheckInResult, error) {
	switch {
	case id == "":
		return SelfCheckInResult{}, httpapi.BadRequest("facility_id is required")
	case holdID == "":
		return SelfCheckInResult{}, httpapi.BadRequest("hold id is required")
	case count < 0 || count > MaxParty:
		return SelfCheckInResult{}, httpapi.BadRequest("count must be between 1 and the party held")
	}
	now := s.opts.Now()
	n := 0
	rec, err := s.update(ctx, id, now, func(r *Record) error {
		i := slices.IndexFunc(r.Holds, func(h Hold) bool { return h.ID == holdID })
		if i < 0 || !now.Before(r.Holds[i].ExpiresAt) {
			return holdGone(holdID, id, now)
		}
		h := r.Holds[i]
		if count > h.Party {
			return httpapi.BadRequest("count %d is more than the %d places held", count, h.Party)
		}
		if r.Status != StatusOpen && r.Status != StatusFull {
			return unavailable(r.Facility)
		}
		n = h.Party
		if count > 0 {
			n = count
		}
		r.Holds = slices.Delete(r.Holds, i, i+1)
		r.expire(now)
		r.Occupancy += n
		autoStatus(&r.Facility)
		return nil
	})
	if err != nil {
		return SelfCheckInResult{}, err
	}
	return SelfCheckInResult{Facility: rec.Facility, Count: n}, nil
}

// handleSelfCheckIn serves POST /api/v1/holds/{id}/checkin with a
// SelfCheckInRequest body (public; see SelfCheckIn).
func (s *Service) handleSelfCheckIn(w http.ResponseWriter, r *http.Request) {
	var in SelfCheckInRequest
	if err := httpapi.Decode(w, r, &in, 1<<10); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	res, err := s.SelfCheckIn(r.Context(), in.FacilityID, r.PathValue("id"), in.Count)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeJSON(w, res)
}

// Map drawing: an equirectangular projection scaled by cos(latitude) so
// that a meter is the same length across and up; 600 user units wide.
const mapWidth = 600

// mapSVG draws the ward boundary (when known) and every facility as a dot,
// with the projection on data- attributes for the page's script, which adds
// the results and "you are here" into <g id="marks">. The shipped boundary
// is already simplified; coordinates are rounded to whole units (about
// 20 m) and repeated points dropped.
func mapSVG(b *Boundary, fs []Facility, title string) template.HTML {
	minLat, maxLat, minLng, maxLng := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	grow := func(lat, lng float64) {
		minLat, maxLat = min(minLat, lat), max(maxLat, lat)
		minLng, maxLng = min(minLng, lng), max(maxLng, lng)
	}
	if b != nil {
		grow(b.minLat, b.minLng)
		grow(b.maxLat, b.maxLng)
	}
	for _, f := range fs {
		grow(f.Lat, f.Lng)
	}
	if math.IsInf(minLat, 0) { // nothing to draw: a fixed frame on Minato
		minLat, maxLat, minLng, maxLng = 35.62, 35.68, 139.71, 139.79
	}
	// A margin of about 300 m around.
	pad := 0.003
	minLat, maxLat, minLng, maxLng = minLat-pad, maxLat+pad, minLng-pad, maxLng+pad
	cos := math.Cos((minLat + maxLat) / 2 * degToRad)
	sx := mapWidth / (maxLng - minLng)
	sy := sx / cos
	height := math.Ceil((maxLat - minLat) * sy)
	xy := func(lat, lng float64) (int, int) {
		return int(math.Round((lng - minLng) * sx)), int(math.Round((maxLat - lat) * sy))
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `<svg class="map" viewBox="0 0 %d %.0f" role="img" aria-labelledby="map-title" data-lng0="%.6f" data-lat0="%.6f" data-sx="%.4f" data-sy="%.4f"><title id="map-title">%s</title>`,
		mapWidth, height, minLng, maxLat, sx, sy, template.HTMLEscapeString(title))
	if b != nil {
		buf.WriteString(`<path class="ward" fill-rule="evenodd" d="`)
		for _, poly := range b.polys {
			for _, ring := range poly {
				lx, ly := math.MinInt, math.MinInt
				cmd := "M"
				for _, v := range ring {
					x, y := xy(v.lat, v.lng)
					if x == lx && y == ly {
						continue
					}
					fmt.Fprintf(&buf, "%s%d %d", cmd, x, y)
					cmd, lx, ly = "L", x, y
				}
				buf.WriteString("Z")
			}
		}
		buf.WriteString(`"/>`)
	}
	buf.WriteString(`<g class="facs">`)
	for _, f := range fs {
		x, y := xy(f.Lat, f.Lng)
		fmt.Fprintf(&buf, `<circle class="fac" cx="%d" cy="%d" r="4"/>`, x, y)
	}
	buf.WriteString(`</g><g id="marks"></g></svg>`)
	return template.HTML(buf.String())
}
