package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"github.com/minato-city/anpi/app"
)

func loadConfig(fs *flag.FlagSet, args []string) (app.Config, error) {
	path := fs.String("config", "", "config file (default $ANPI_CONFIG or configs/anpi.yaml)")
	if err := fs.Parse(args); err != nil {
		return app.Config{}, err
	}
	p := *path
	if p == "" && os.Getenv("ANPI_CONFIG") == "" {
		if _, err := os.Stat("configs/anpi.yaml"); err == nil {
			p = "configs/anpi.yaml"
		}
	}
	return app.LoadConfig(p, os.Getenv)
}

// phoneRe finds E.164 numbers so the log handler can mask them.
var phoneRe = regexp.MustCompile(`\+[1-9][0-9]{7,14}`)

func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		// Phone numbers never reach the log, whoever logs them.
		if a.Value.Kind() == slog.KindString && phoneRe.MatchString(a.Value.String()) {
			return slog.String(a.Key, phoneRe.ReplaceAllStringFunc(a.Value.String(), func(p string) string {
				return p[:3] + "******" + p[len(p)-2:]
			}))
		}
		return a
	}}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdServe(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer a.Close(context.Background())
	return a.Run(ctx)
}
