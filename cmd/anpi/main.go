// Command anpi is the disaster-response alerting and safety-confirmation
// server for Minato City, and its command-line tools.
//
//	anpi serve [--config FILE]
//	anpi import residents FILE.csv
//	anpi alert send|approve|status|cancel ...
//	anpi classify < replies.txt
//	anpi simulate replies --check ID
//	anpi version
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: anpi <command> [flags]

commands:
  serve                      run the server (default config configs/anpi.yaml)
  import residents FILE.csv  load residents into the store
  import facilities FILE     load facilities (GSI GeoJSON) into the store
  alert send|approve|status|cancel
                             drive alerts through the REST API
  classify                   classify replies read from stdin, one per line (JSONL out)
  simulate replies           drill: simulated residents answer a safety check over LINE
  version                    print the version
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(args[1:], stderr)
	case "import":
		err = cmdImport(args[1:], stdout, stderr)
	case "alert":
		err = cmdAlert(args[1:], stdout, stderr)
	case "classify":
		err = cmdClassify(args[1:], stdin, stdout)
	case "simulate":
		err = cmdSimulate(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "anpi", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "anpi: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "anpi:", err)
		return 1
	}
	return 0
}
