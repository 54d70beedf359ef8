package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
)

func cmdAlert(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("alert: send, approve, status or cancel")
	}
	fs := flag.NewFlagSet("alert "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "http://127.0.0.1:8080", "anpi server URL")
	token := fs.String("token", "", "staff API token (default $ANPI_TOKEN or $ANPI_ADMIN_TOKEN)")
	switch args[0] {
	case "send":
		titleJA := fs.String("title-ja", "", "title in Japanese")
		titleEN := fs.String("title-en", "", "title in English")
		bodyJA := fs.String("body-ja", "", "body in Japanese")
		bodyEN := fs.String("body-en", "", "body in English")
		channels := fs.String("channels", "line,sms", "comma-separated channels")
		areas := fs.String("areas", "", "comma-separated areas (default: all)")
		tags := fs.String("tags", "", "comma-separated tags")
		severity := fs.String("severity", "severe", "extreme, severe, moderate or minor")
		drill := fs.Bool("drill", false, "send as a drill (訓練)")
		wait := fs.Bool("wait", true, "after approval, show live progress until the alert ends")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		req := alert.Request{Kind: alert.KindManual, Severity: *severity, Title: map[string]string{}, Body: map[string]string{},
			Channels: splitList(*channels), Drill: *drill, Target: alert.Target{Tags: splitList(*tags)}}
		for k, v := range map[string]string{"ja": *titleJA, "en": *titleEN} {
			if v != "" {
				req.Title[k] = v
			}
		}
		for k, v := range map[string]string{"ja": *bodyJA, "en": *bodyEN} {
			if v != "" {
				req.Body[k] = v
			}
		}
		if a := splitList(*areas); len(a) > 0 {
			req.Target.Areas = a
		} else {
			req.Target.All = true
		}
		c := newClient(*server, *token)
		var out struct{ ID, Status string }
		if err := c.do("POST", "/api/v1/alerts", req, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "alert %s created: %s (another staff member must approve: anpi alert approve %s)\n", out.ID, out.Status, out.ID)
		if *wait {
			return watch(c, out.ID, stdout, stderr)
		}
		return nil
	case "approve", "status", "cancel":
		reason := fs.String("reason", "", "why the alert is cancelled")
		correction := map[string]string{}
		fs.Func("correction", "cancel: correction text for the people already reached, as LANG=TEXT (repeat per language; plain TEXT is ja)", func(v string) error {
			lang, text, ok := strings.Cut(v, "=")
			if !ok || !slices.Contains(residents.Languages, lang) {
				lang, text = "ja", v
			}
			correction[lang] = text
			return nil
		})
		follow := fs.Bool("follow", args[0] != "cancel", "show live progress until the alert ends")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("alert %s: name one alert id", args[0])
		}
		id := fs.Arg(0)
		c := newClient(*server, *token)
		switch args[0] {
		case "approve":
			if err := c.do("POST", "/api/v1/alerts/"+id+"/approve", nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "alert %s approved\n", id)
		case "cancel":
			var out struct {
				Correction *string `json:"correction"`
				Note       string  `json:"note"`
			}
			if err := c.do("POST", "/api/v1/alerts/"+id+"/cancel", map[string]any{"reason": *reason, "correction": correction}, &out); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "alert %s cancelled\n", id)
			if out.Correction != nil {
				fmt.Fprintf(stdout, "correction %s sent to the people already reached (anpi alert status %s)\n", *out.Correction, *out.Correction)
			} else if out.Note != "" {
				fmt.Fprintf(stdout, "no correction: %s\n", out.Note)
			}
		}
		if *follow {
			return watch(c, id, stdout, stderr)
		}
		var v alert.View
		if err := c.do("GET", "/api/v1/alerts/"+id, nil, &v); err != nil {
			return err
		}
		printView(stdout, v)
		return nil
	default:
		return fmt.Errorf("alert: unknown action %q", args[0])
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// watch polls an alert and draws its progress per channel until it ends.
func watch(c *client, id string, stdout, stderr io.Writer) error {
	for {
		var v alert.View
		if err := c.do("GET", "/api/v1/alerts/"+id, nil, &v); err != nil {
			return err
		}
		var parts []string
		chs := make([]string, 0, len(v.Counts))
		for ch := range v.Counts {
			chs = append(chs, ch)
		}
		slices.Sort(chs)
		for _, ch := range chs {
			k := v.Counts[ch]
			parts = append(parts, fmt.Sprintf("%s %s %d/%d (failed %d)", ch, bar(k.Sent+k.Failed, k.Planned), k.Sent, k.Planned, k.Failed))
		}
		fmt.Fprintf(stderr, "\r%-18s %s   ", v.Status, strings.Join(parts, "  "))
		if alert.Terminal(v.Status) {
			fmt.Fprintln(stderr)
			printView(stdout, v)
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func bar(done, total int64) string {
	n := 10
	if total > 0 {
		n = int(done * 10 / total)
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 10-n) + "]"
}

func printView(w io.Writer, v alert.View) {
	drill := "LIVE"
	if v.Drill {
		drill = "DRILL 訓練"
	}
	fmt.Fprintf(w, "%s  %s  %s  audience %d\n", v.ID, v.Status, drill, v.Audience)
	for ch, k := range v.Counts {
		fmt.Fprintf(w, "  %-8s planned %d  queued %d  sent %d  delivered %d  failed %d\n", ch, k.Planned, k.Queued, k.Sent, k.Delivered, k.Failed)
	}
	if v.Problem != "" {
		fmt.Fprintf(w, "  PROBLEM: %s\n", v.Problem)
	}
}
