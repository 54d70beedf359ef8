// Package httpapi holds the JSON conventions of anpi's HTTP surface, shared by
// every package that serves an endpoint: the error shape
// {"error":{"code":"...","message":"..."}}, strict request decoding with a
// size limit, and JSON responses.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// DefaultMaxBody is the request body limit when a handler names none.
const DefaultMaxBody = 1 << 20

// Error is an API error with an HTTP status, a stable machine code and a
// message for people. Messages never contain secrets or phone numbers.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest returns a 400 *Error with code "bad_request".
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "bad_request", format, args...)
}

// NotFound returns a 404 *Error with code "not_found".
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, "not_found", format, args...)
}

// Conflict returns a 409 *Error with code "conflict".
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, "conflict", format, args...)
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError writes err in the API error shape. An *Error (anywhere in the
// chain) gives status, code and message; any other error becomes a 500 with a
// generic message, so internal details never reach the client.
func WriteError(w http.ResponseWriter, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		ae = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	var b errorBody
	b.Error.Code = ae.Code
	b.Error.Message = ae.Message
	WriteJSON(w, ae.Status, b)
}

// Decode reads one JSON value from r's body into v. It refuses bodies over
// maxBytes (DefaultMaxBody if <= 0) with 413, invalid UTF-8, unknown fields,
// trailing data, and non-JSON content types with a clear 4xx *Error.
func Decode(w http.ResponseWriter, r *http.Request, v any, maxBytes int64) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBody
	}
	if !jsonish(r.Header.Get("Content-Type")) {
		return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "content type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		return decodeError(err)
	}
	if !utf8.Valid(body) {
		// encoding/json would silently turn bad bytes into U+FFFD.
		return BadRequest("body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return BadRequest("body must hold a single JSON value")
	}
	return nil
}

// jsonish accepts JSON content types, none, and the types plain clients send
// by default with a JSON body (curl -d sends form-urlencoded); structured
// types that are clearly not JSON (multipart, XML) are refused.
func jsonish(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(ct))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	switch {
	case ct == "", ct == "application/x-www-form-urlencoded", ct == "text/plain":
		return true
	case strings.HasPrefix(ct, "application/") && strings.HasSuffix(ct, "json"):
		return true
	}
	return false
}

func decodeError(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return Errorf(http.StatusRequestEntityTooLarge, "too_large", "body exceeds %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return BadRequest("body is empty")
	case errors.As(err, &se):
		return BadRequest("malformed JSON at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("malformed JSON: unexpected end")
	case errors.As(err, &te):
		return BadRequest("field %q must be %s", te.Field, te.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return BadRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return BadRequest("malformed JSON")
	}
}
