// pause: the sandbox ("pause") container of the test node's pods. It holds the pod's namespaces,
// reaps orphaned children (it is PID 1) and exits on SIGINT or SIGTERM. Kubernetes' own pause is a
// small C program; this one is Go so that the whole test node builds from Go modules.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
