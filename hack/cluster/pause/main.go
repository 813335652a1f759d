// Command pause is the local cluster's CRI sandbox ("pause") image and its test workload, so the
// node needs no registry: it waits for SIGTERM or SIGINT and exits 0. With -listen it also answers
// every HTTP request with 200 and the host name (the Pod's name), which the node check uses to
// prove a Pod is reachable by its IP and through a ClusterIP Service.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "", "Address to serve HTTP on (e.g. :8080); empty serves nothing.")
	flag.Parse()
	if *listen != "" {
		host, _ := os.Hostname()
		srv := &http.Server{
			Addr:              *listen,
			ReadHeaderTimeout: 5 * time.Second,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = fmt.Fprintln(w, host)
			}),
		}
		go func() {
			if err := srv.ListenAndServe(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
