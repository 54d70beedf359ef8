package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/minato-city/anpi/app"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/routing"
	"github.com/minato-city/anpi/store"
	"github.com/minato-city/anpi/store/repo"
)

// progress draws a one-line progress bar on w.
type progress struct {
	w     io.Writer
	total int64
	done  int64
	last  time.Time
	label string
}

func (p *progress) add(n int64) {
	p.done += n
	if time.Since(p.last) < 100*time.Millisecond && p.done < p.total {
		return
	}
	p.last = time.Now()
	pct := 100.0
	if p.total > 0 {
		pct = float64(p.done) * 100 / float64(p.total)
	}
	filled := int(pct / 5)
	fmt.Fprintf(p.w, "\r%s [%s%s] %5.1f%%", p.label, strings.Repeat("#", filled), strings.Repeat(".", 20-filled), pct)
}

func (p *progress) finish() { fmt.Fprintln(p.w) }

// countingReader reports bytes read to a progress bar.
type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}

func cmdImport(args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 {
		return errors.New("import: say what to import: residents FILE.csv or facilities FILE")
	}
	what := args[0]
	fs := flag.NewFlagSet("import "+what, flag.ContinueOnError)
	cfg, err := loadConfig(fs, args[1:])
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("import %s: name one file", what)
	}
	path := fs.Arg(0)
	ctx := context.Background()
	b, bus, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("import: %w (is a server using the embedded store? stop it or use the API)", err)
	}
	defer b.Close()
	defer bus.Close()
	switch what {
	case "residents":
		return importResidents(ctx, b, path, stdout, stderr)
	case "facilities":
		return importFacilities(ctx, b, path, cfg, stdout)
	default:
		return fmt.Errorf("import: unknown kind %q (residents or facilities)", what)
	}
}

func importResidents(ctx context.Context, b store.Backend, path string, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import residents: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("import residents: %w", err)
	}
	bar := &progress{w: stderr, total: st.Size(), label: "residents"}
	dir := residents.NewDirectory(repo.Residents{B: b})
	var batch []residents.Resident
	good, bad := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		rows, err := dir.Put(ctx, batch)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			return fmt.Errorf("import residents: unexpected invalid rows: %v", rows[0])
		}
		good += len(batch)
		batch = batch[:0]
		return nil
	}
	var problems []residents.RowError
	err = residents.ReadCSV(&countingReader{r: f, p: bar}, func(_ int, r residents.Resident) error {
		batch = append(batch, r)
		if len(batch) == 1000 {
			return flush()
		}
		return nil
	}, func(e residents.RowError) {
		bad++
		problems = append(problems, e)
	})
	if err == nil {
		err = flush()
	}
	bar.finish()
	for _, p := range problems {
		fmt.Fprintf(stderr, "line %d: %s: %s\n", p.Row, p.Field, p.Reason)
	}
	if err != nil {
		return fmt.Errorf("import residents: %w", err)
	}
	fmt.Fprintf(stdout, "imported %d residents, %d bad rows skipped\n", good, bad)
	return nil
}

func importFacilities(ctx context.Context, b store.Backend, path string, cfg app.Config, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import facilities: %w", err)
	}
	defer f.Close()
	kind := routing.KindShelter
	if strings.Contains(path, "evacuation") {
		kind = routing.KindEvacuationSite
	}
	fs, err := routing.LoadGSI(f, kind, cfg.Facilities.DefaultCapacity, cfg.Facilities.DefaultStatus)
	if err != nil {
		return fmt.Errorf("import facilities: %w", err)
	}
	if err := (repo.Facilities{B: b}).PutFacilities(ctx, fs); err != nil {
		return fmt.Errorf("import facilities: %w", err)
	}
	fmt.Fprintf(stdout, "imported %d facilities\n", len(fs))
	return nil
}
