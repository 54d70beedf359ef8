//go:build unix

package classify

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time used by this process, so a
// benchmark can report throughput per CPU-second on a loaded machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
