package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/safety"
	"github.com/minato-city/anpi/sandbox"
)

// simReplies are what simulated residents write, by outcome and language.
var simReplies = map[string][]string{
	"injured_text": {
		"足をけがしましたが歩けます", "腕を切りました。血は止まっています", "I twisted my ankle but I'm ok otherwise",
		"头部轻伤，已经包扎", "다리를 다쳤어요",
	},
	"needs_help_text": {
		"助けて、家具の下敷きになっています", "母が動けません。救助をお願いします", "Trapped under debris, please send help",
		"我被困在电梯里，请救援", "도와주세요 집이 무너졌어요",
	},
	"safe_text":    {"家族3人とも無事です", "無事です", "We are all fine, thanks", "我们都平安", "괜찮아요"},
	"unclear_text": {"？", "これは何ですか", "hello?"},
}

// cmdSimulate drives drill traffic through the real webhooks.
func cmdSimulate(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "replies" {
		return errors.New("simulate: only 'simulate replies' is available")
	}
	fs := flag.NewFlagSet("simulate replies", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "http://127.0.0.1:8080", "anpi server URL")
	file := fs.String("residents", "configs/demo/residents.csv", "residents CSV of the simulated population (LINE users answer)")
	check := fs.String("check", "", "safety check id to answer (postback buttons carry it)")
	ratePS := fs.Float64("rate", 200, "webhook requests per second")
	share := fs.Float64("share", 0.9, "fraction of the population that answers")
	seed := fs.Uint64("seed", 1, "random seed (same seed, same drill)")
	secret := fs.String("secret", "", "LINE channel secret (default $LINE_CHANNEL_SECRET, or the sandbox secret)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *check == "" {
		return errors.New("simulate replies: --check is required")
	}
	if *secret == "" {
		*secret = os.Getenv("LINE_CHANNEL_SECRET")
	}
	if *secret == "" {
		*secret = "sandbox-line-channel-secret"
	}
	f, err := os.Open(*file)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	defer f.Close()
	var users []string
	if err := residents.ReadCSV(f, func(_ int, r residents.Resident) error {
		if r.Contacts.LINEUserID != "" {
			users = append(users, r.Contacts.LINEUserID)
		}
		return nil
	}, func(residents.RowError) {}); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	rng := rand.New(rand.NewPCG(*seed, 42))
	sim := sandbox.NewLINE(sandbox.LINEConfig{Seed: int64(*seed)})
	lim := rate.NewLimiter(rate.Limit(*ratePS), 1)
	hc := &http.Client{Timeout: 10 * time.Second}
	url := strings.TrimRight(*server, "/") + "/webhooks/line"
	sent, failed := 0, 0
	for _, u := range users {
		if rng.Float64() >= *share {
			continue
		}
		ev := simEvent(rng, u, *check)
		body, err := sim.WebhookBody(ev)
		if err != nil {
			return err
		}
		if err := lim.Wait(context.Background()); err != nil {
			return err
		}
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Line-Signature", sandbox.SignLINE(*secret, body))
		resp, err := hc.Do(req)
		if err != nil {
			failed++
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed++
			continue
		}
		sent++
		fmt.Fprintf(stderr, "\rreplies sent %d, failed %d", sent, failed)
	}
	fmt.Fprintln(stderr)
	fmt.Fprintf(stdout, "simulated %d replies (%d failed) from %d LINE users\n", sent, failed, len(users))
	if failed > 0 {
		return fmt.Errorf("simulate: %d webhook requests failed", failed)
	}
	return nil
}

func simEvent(rng *rand.Rand, user, check string) sandbox.LINEEvent {
	pick := func(k string) string { s := simReplies[k]; return s[rng.IntN(len(s))] }
	text := func(t string) sandbox.LINEEvent {
		return sandbox.LINEEvent{Type: sandbox.LINEEventText, UserID: user, Text: t}
	}
	button := func(label string) sandbox.LINEEvent {
		return sandbox.LINEEvent{Type: sandbox.LINEEventPostback, UserID: user, Data: safety.PostbackData(check, label)}
	}
	switch x := rng.Float64(); {
	case x < 0.70:
		return button("safe")
	case x < 0.78:
		return text(pick("safe_text"))
	case x < 0.83:
		return button("evacuated")
	case x < 0.88:
		return button("stranded")
	case x < 0.92:
		return text(pick("injured_text"))
	case x < 0.95:
		return button("injured")
	case x < 0.98:
		return text(pick("needs_help_text"))
	default:
		return text(pick("unclear_text"))
	}
}
