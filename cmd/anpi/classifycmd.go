package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/minato-city/anpi/safety/classify"
)

// cmdClassify reads one reply per line and writes one JSON result per line,
// the shape of POST /api/v1/classify. With --eval FILE it evaluates the
// rules on a labelled JSONL set instead and prints the report.
func cmdClassify(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	lang := fs.String("lang", "", "language of the replies (ja, en, zh, ko; empty: detect)")
	eval := fs.String("eval", "", "evaluate on a labelled JSONL file and print per-label precision/recall/F1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	rules := classify.Rules{}
	if *eval != "" {
		f, err := os.Open(*eval)
		if err != nil {
			return fmt.Errorf("classify: %w", err)
		}
		defer f.Close()
		cases, err := classify.LoadCases(f)
		if err != nil {
			return fmt.Errorf("classify: %w", err)
		}
		rep := classify.Evaluate(ctx, rules, cases)
		fmt.Fprint(stdout, rep.String())
		return nil
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		res, err := rules.Classify(ctx, line, *lang)
		if err != nil {
			if err := enc.Encode(map[string]any{"error": err.Error()}); err != nil {
				return err
			}
			continue
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return sc.Err()
}
