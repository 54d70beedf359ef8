//go:build !unix

package classify

import "time"

func processCPU() time.Duration { return 0 }
