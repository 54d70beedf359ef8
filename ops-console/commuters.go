package console

import (
	"net/http"

	"github.com/minato-city/anpi/httpapi"
)

// commuterReports serves POST /api/v1/commuters/reports, one route for two
// kinds of report:
//
//   - with credentials (an Authorization header or the session cookie) it is
//     a staff report and goes through Require("operator"): authenticated,
//     CSRF-checked for sessions, authorised and audited like every staff
//     write. Bad or insufficient credentials are refused (401/403), never
//     downgraded to a self-report, so a staff member notices.
//   - without credentials it is a public self-report (count 1..20, bounded
//     by routing.Commuters), rate-limited per client by PublicLimit.
func (api *API) commuterReports() http.Handler {
	staff := api.Require("operator", func(w http.ResponseWriter, r *http.Request, p Principal) error {
		return api.Commuters.HandleReport(w, r, p.Name)
	})
	var self http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := api.Commuters.HandleReport(w, r, ""); err != nil {
			httpapi.WriteError(w, err)
		}
	})
	if api.PublicLimit != nil {
		self = api.PublicLimit(self)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasCredentials(r) {
			staff.ServeHTTP(w, r)
			return
		}
		self.ServeHTTP(w, r)
	})
}

// hasCredentials reports whether r carries staff credentials of any kind.
func hasCredentials(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	c, err := r.Cookie(SessionCookie)
	return err == nil && c.Value != ""
}

// commuters serves GET /api/v1/commuters: the HQ planning view.
func (api *API) commuters(w http.ResponseWriter, r *http.Request, _ Principal) error {
	return api.Commuters.HandleView(w, r)
}
