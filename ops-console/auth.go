// Package console is the disaster HQ's operations console: staff accounts,
// sessions and API tokens with roles, the audit log, the staff REST API, the
// live WebSocket hub and the embedded web UI.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/minato-city/anpi/httpapi"
	"github.com/minato-city/anpi/store"
)

// Roles, weakest first.
var Roles = []string{"viewer", "operator", "approver", "admin"}

// RoleAtLeast reports whether role has at least the rights of min.
func RoleAtLeast(role, min string) bool {
	return slices.Index(Roles, role) >= slices.Index(Roles, min) && slices.Contains(Roles, role)
}

// Staff is a console user.
type Staff struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	PasswordHash []byte    `json:"password_hash"`
	TokenHash    string    `json:"token_hash"`
	CreatedAt    time.Time `json:"created_at"`
	CreatedBy    string    `json:"created_by"`
}

// Principal is who makes a request.
type Principal struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// CSRF is set for cookie sessions; writes must echo it in X-CSRF-Token.
	CSRF string `json:"csrf_token,omitempty"`
	// Session is the hashed session id for cookie sessions.
	Session string `json:"-"`
}

type session struct {
	Name    string    `json:"name"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// SessionCookie is the name of the console session cookie.
const SessionCookie = "anpi_session"

// SessionTTL is how long a console login lasts.
const SessionTTL = 12 * time.Hour

const (
	collStaff    = "staff"
	collTokens   = "staff_tokens"
	collSessions = "sessions"
	collAudit    = "audit"
)

// ErrUnauthenticated means no valid credentials were presented.
var ErrUnauthenticated = &httpapi.Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "a valid bearer token or session is required"}

// Auth authenticates staff and keeps the audit log.
type Auth struct {
	b          store.Backend
	adminToken string
	log        *slog.Logger
	now        func() time.Time
	secure     bool
}

// NewAuth returns an Auth over b. adminToken, if set, is accepted as an admin
// bearer token. secureCookies sets the Secure flag (public URL is https).
func NewAuth(b store.Backend, adminToken string, secureCookies bool, log *slog.Logger) *Auth {
	if log == nil {
		log = slog.Default()
	}
	return &Auth{b: b, adminToken: adminToken, log: log, now: time.Now, secure: secureCookies}
}

func randomToken(n int) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(buf)
}

func hashToken(t string) string {
	s := sha256.Sum256([]byte(t))
	return hex.EncodeToString(s[:])
}

// Bootstrap creates a first admin with a random password and prints a
// one-time login to the log when there is no staff and no admin token.
func (a *Auth) Bootstrap(ctx context.Context) error {
	if a.adminToken != "" {
		return nil
	}
	n, err := a.b.Count(ctx, collStaff)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if n > 0 {
		return nil
	}
	pw := randomToken(12)
	if _, _, err := a.CreateStaff(ctx, "admin", "admin", pw, "bootstrap"); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	// Printed once, on purpose: this is how the first operator gets in.
	a.log.Warn("first start: one-time admin login (change it by creating your own admin)", "name", "admin", "password", pw)
	return nil
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$`)

// CreateStaff adds a staff member and returns it with a new API token.
func (a *Auth) CreateStaff(ctx context.Context, name, role, password, by string) (Staff, string, error) {
	switch {
	case !nameRe.MatchString(name):
		return Staff{}, "", httpapi.BadRequest("name: 2-64 characters of A-Z a-z 0-9 _ . @ -")
	case !slices.Contains(Roles, role):
		return Staff{}, "", httpapi.BadRequest("role: must be one of %s", strings.Join(Roles, ", "))
	case utf8.RuneCountInString(password) < 12 || len(password) > 72:
		return Staff{}, "", httpapi.BadRequest("password: 12 to 72 characters")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return Staff{}, "", fmt.Errorf("staff: %w", err)
	}
	token := "anpi_" + randomToken(24)
	s := Staff{ID: "st_" + randomToken(8), Name: name, Role: role, PasswordHash: hash, TokenHash: hashToken(token), CreatedAt: a.now(), CreatedBy: by}
	data, _ := json.Marshal(s)
	created, err := a.b.PutIfAbsent(ctx, collStaff+"_names", name, []byte(s.ID), 0)
	if err != nil {
		return Staff{}, "", fmt.Errorf("staff: %w", err)
	}
	if !created {
		return Staff{}, "", httpapi.Conflict("staff %q exists", name)
	}
	if err := a.b.Put(ctx, collStaff, name, data); err != nil {
		return Staff{}, "", fmt.Errorf("staff: %w", err)
	}
	if err := a.b.Put(ctx, collTokens, s.TokenHash, []byte(name)); err != nil {
		return Staff{}, "", fmt.Errorf("staff: %w", err)
	}
	return s, token, nil
}

func (a *Auth) staff(ctx context.Context, name string) (Staff, error) {
	var s Staff
	data, err := a.b.Get(ctx, collStaff, name)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(data, &s)
}

// Login checks a password and opens a session. It returns the session id
// (for the cookie) and the principal with its CSRF token.
func (a *Auth) Login(ctx context.Context, name, password string) (string, Principal, error) {
	s, err := a.staff(ctx, name)
	if err != nil {
		// Same work and answer for unknown names and wrong passwords.
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return "", Principal{}, &httpapi.Error{Status: http.StatusUnauthorized, Code: "bad_login", Message: "wrong name or password"}
	}
	if bcrypt.CompareHashAndPassword(s.PasswordHash, []byte(password)) != nil {
		return "", Principal{}, &httpapi.Error{Status: http.StatusUnauthorized, Code: "bad_login", Message: "wrong name or password"}
	}
	sid := randomToken(32)
	ss := session{Name: s.Name, CSRF: randomToken(24), Expires: a.now().Add(SessionTTL)}
	data, _ := json.Marshal(ss)
	if err := a.b.Put(ctx, collSessions, hashToken(sid), data); err != nil {
		return "", Principal{}, fmt.Errorf("session: %w", err)
	}
	return sid, Principal{Name: s.Name, Role: s.Role, CSRF: ss.CSRF, Session: hashToken(sid)}, nil
}

// Logout ends a session.
func (a *Auth) Logout(ctx context.Context, p Principal) error {
	if p.Session == "" {
		return nil
	}
	return a.b.Delete(ctx, collSessions, p.Session)
}

// SetSessionCookie writes the session cookie.
func (a *Auth) SetSessionCookie(w http.ResponseWriter, sid string) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: sid, Path: "/", HttpOnly: true, Secure: a.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL.Seconds()),
	})
}

// Authenticate finds the principal of a request: a bearer token (the admin
// token or a staff API token), or the session cookie. allowQuery also
// accepts ?access_token= (WebSocket clients cannot set headers).
func (a *Auth) Authenticate(r *http.Request, allowQuery bool) (Principal, error) {
	ctx := r.Context()
	token := ""
	if h := r.Header.Get("Authorization"); h != "" {
		t, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return Principal{}, ErrUnauthenticated
		}
		token = strings.TrimSpace(t)
	} else if allowQuery {
		token = r.URL.Query().Get("access_token")
	}
	if token != "" {
		if a.adminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.adminToken)) == 1 {
			return Principal{Name: "admin-token", Role: "admin"}, nil
		}
		name, err := a.b.Get(ctx, collTokens, hashToken(token))
		if err != nil {
			return Principal{}, ErrUnauthenticated
		}
		s, err := a.staff(ctx, string(name))
		if err != nil {
			return Principal{}, ErrUnauthenticated
		}
		return Principal{Name: s.Name, Role: s.Role}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return Principal{}, ErrUnauthenticated
	}
	h := hashToken(c.Value)
	data, err := a.b.Get(ctx, collSessions, h)
	if err != nil {
		return Principal{}, ErrUnauthenticated
	}
	var ss session
	if json.Unmarshal(data, &ss) != nil || !a.now().Before(ss.Expires) {
		return Principal{}, ErrUnauthenticated
	}
	s, err := a.staff(ctx, ss.Name)
	if err != nil {
		return Principal{}, ErrUnauthenticated
	}
	return Principal{Name: s.Name, Role: s.Role, CSRF: ss.CSRF, Session: h}, nil
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Role   string    `json:"role"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Status int       `json:"status"`
	Remote string    `json:"remote,omitempty"`
}

// Audit appends an entry to the audit log. Failures are logged: the audit
// log must not block an emergency action.
func (a *Auth) Audit(ctx context.Context, e AuditEntry) {
	e.At = a.now().UTC()
	e.ID = fmt.Sprintf("%020d-%s", e.At.UnixNano(), randomToken(4))
	data, _ := json.Marshal(e)
	if err := a.b.Put(context.WithoutCancel(ctx), collAudit, e.ID, data); err != nil {
		a.log.Error("audit write failed", "action", e.Action, "actor", e.Actor, "err", err)
	}
}

// AuditLog returns up to limit entries after cursor, oldest first.
func (a *Auth) AuditLog(ctx context.Context, after string, limit int) ([]AuditEntry, error) {
	kvs, err := a.b.Scan(ctx, collAudit, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	out := make([]AuditEntry, 0, len(kvs))
	for _, kv := range kvs {
		var e AuditEntry
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// dummyHash makes a login with an unknown name cost the same as one with a
// wrong password.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("anpi-dummy-password"), bcrypt.DefaultCost)
	return h
})
