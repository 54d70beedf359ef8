package app

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/minato-city/anpi/sandbox"
)

// runLINELocation runs issue 5 through the real webhook, the
// real LINE SDK and the LINE simulator: a location message is answered
// (by reply token) with the three nearest open facilities with room and a
// hold button each; tapping one holds a place and answers with the hold id,
// its expiry and the check-in link; a position outside the served area
// gets a kind message.
func TestLINELocationFacilitiesEmbedded(t *testing.T) { runLINELocation(t, "embedded") }
func TestLINELocationFacilitiesRedis(t *testing.T)    { runLINELocation(t, "redis") }

func runLINELocation(t *testing.T, backend string) {
	s := start(t, baseConfig(t, backend))
	op := s.staff("sato", "operator")
	enUser, stranger := fmt.Sprintf("U%032x", 0xe11), fmt.Sprintf("U%032x", 0x5a5a)
	if code := s.call("POST", "/api/v1/residents", op, map[string]any{"id": "l-en", "name": "Alex", "language": "en", "area": "shiba",
		"contacts": map[string]string{"line_user_id": enUser}}, nil); code != 200 && code != 201 {
		t.Fatalf("resident: %d", code)
	}
	sb := s.app.Sandbox.LINE
	post := func(ev sandbox.LINEEvent) {
		t.Helper()
		resp, err := sb.PostWebhook(context.Background(), s.url+"/webhooks/line", SandboxLINESecret, ev)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("webhook: %d", resp.StatusCode)
		}
	}
	// waitReply waits for the user's n-th delivering request and returns its messages.
	waitReply := func(user string, n int) []sandbox.LINEMessage {
		t.Helper()
		s.waitFor("a LINE reply", func() bool { return sb.Delivered(user) >= n })
		var out []sandbox.LINEMessage
		all := sb.LastMessages(user)
		last := all[len(all)-1].RequestID
		for _, m := range all {
			if m.RequestID == last {
				out = append(out, m)
			}
		}
		return out
	}

	// Hamamatsuchō station: an English resident gets one English message.
	const lat, lng = 35.6553, 139.7571
	post(sandbox.LINEEvent{Type: sandbox.LINEEventLocation, UserID: enUser, Lat: lat, Lng: lng})
	msgs := waitReply(enUser, 1)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "Open facilities with room near you:") || len(msgs[0].QuickReplies) != 3 {
		t.Fatalf("location reply %+v", msgs)
	}
	var near []struct {
		Facility struct{ ID, Name string }
		Free     int
	}
	if code := s.call("GET", fmt.Sprintf("/api/v1/facilities/nearest?lat=%v&lng=%v&limit=3", lat, lng), "", nil, &near); code != 200 || len(near) != 3 {
		t.Fatalf("nearest: %d", code)
	}
	for i, q := range msgs[0].QuickReplies {
		if q.Type != "postback" || q.Data != "hold="+near[i].Facility.ID || !strings.HasPrefix(q.Label, "Hold ") || len([]rune(q.Label)) > 20 {
			t.Fatalf("button %d %+v, want facility %s", i, q, near[i].Facility.ID)
		}
		if !strings.Contains(msgs[0].Text, fmt.Sprintf("%d places free", near[i].Free)) {
			t.Fatalf("free places of %s missing from %q", near[i].Facility.ID, msgs[0].Text)
		}
	}

	// Tapping the first button holds one place there.
	fid := near[0].Facility.ID
	var before struct{ Held int }
	s.call("GET", "/api/v1/facilities/"+url.PathEscape(fid), "", nil, &before)
	post(sandbox.LINEEvent{Type: sandbox.LINEEventPostback, UserID: enUser, Data: msgs[0].QuickReplies[0].Data})
	msgs = waitReply(enUser, 2)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "Hold ID: h_") || !strings.Contains(msgs[0].Text, "Valid until: ") {
		t.Fatalf("hold reply %+v", msgs)
	}
	i := strings.Index(msgs[0].Text, s.url+"/shelters/checkin/")
	if i < 0 {
		t.Fatalf("no check-in link in %q", msgs[0].Text)
	}
	link, err := url.Parse(strings.Fields(msgs[0].Text[i:])[0])
	if err != nil || link.Path != "/shelters/checkin/"+fid || !strings.HasPrefix(link.Query().Get("hold"), "h_") ||
		!strings.Contains(msgs[0].Text, link.Query().Get("hold")) {
		t.Fatalf("check-in link %v in %q", link, msgs[0].Text)
	}
	var after struct{ Held int }
	s.call("GET", "/api/v1/facilities/"+url.PathEscape(fid), "", nil, &after)
	if after.Held != before.Held+1 {
		t.Fatalf("held %d → %d", before.Held, after.Held)
	}
	// The hold is real: it checks in at that facility.
	if code := s.call("POST", "/api/v1/facilities/"+url.PathEscape(fid)+"/checkins", op,
		map[string]any{"count": 1, "hold_id": link.Query().Get("hold")}, nil); code != 200 {
		t.Fatalf("check in with the hold: %d", code)
	}

	// Someone not in the directory gets Japanese and English, buttons on the last.
	post(sandbox.LINEEvent{Type: sandbox.LINEEventLocation, UserID: stranger, Lat: lat, Lng: lng})
	msgs = waitReply(stranger, 1)
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0].Text, "近くで受け入れ中の施設") || len(msgs[0].QuickReplies) != 0 ||
		!strings.HasPrefix(msgs[1].Text, "Open facilities") || len(msgs[1].QuickReplies) != 3 {
		t.Fatalf("stranger reply %+v", msgs)
	}
	// A facility that does not exist.
	post(sandbox.LINEEvent{Type: sandbox.LINEEventPostback, UserID: stranger, Data: "hold=no-such-facility"})
	msgs = waitReply(stranger, 2)
	if len(msgs) != 2 || !strings.Contains(msgs[1].Text, "not found") {
		t.Fatalf("unknown facility reply %+v", msgs)
	}
	// Osaka is outside the served area.
	post(sandbox.LINEEvent{Type: sandbox.LINEEventLocation, UserID: enUser, Lat: 34.70, Lng: 135.49})
	msgs = waitReply(enUser, 3)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "outside the area") || len(msgs[0].QuickReplies) != 0 {
		t.Fatalf("outside reply %+v", msgs)
	}
}
