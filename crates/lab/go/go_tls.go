// A Go HTTPS server and client from the standard library only, for the
// TLS plaintext lab test: Go's crypto/tls is probed in the program's own
// file (no libssl), with uprobes on the return instructions of
// (*Conn).Read and (*Conn).Write.
//
//	go_tls server ADDR            serve HTTPS (HTTP/1.1 and HTTP/2) on ADDR
//	go_tls client h1|h2 URL...    wait for a line on stdin, then GET each
//	                              URL on one connection; print "STATUS PORT
//	                              PROTO" per URL (the client's local port)
//	go_tls load h1|h2 URL SECONDS CONNS
//	                              GET URL from CONNS goroutines (keep-alive)
//	                              for SECONDS; print requests per second
//	                              (bench/tls.sh)
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func cert() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	tmpl := x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "go-tls.lab.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"go-tls.lab.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	check(err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func serve(addr string) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/missing") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s over %s\n", r.Method, r.URL.Path, r.Proto)
	})
	srv := &http.Server{
		Addr:      addr,
		Handler:   handler,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert()}},
	}
	ln, err := net.Listen("tcp", addr)
	check(err)
	fmt.Println("listening")
	check(srv.ServeTLS(ln, "", ""))
}

func transport(proto string, port *string) *http.Transport {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: proto == "h2",
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil && port != nil {
				_, *port, _ = net.SplitHostPort(c.LocalAddr().String())
			}
			return c, err
		},
	}
	if proto == "h1" {
		// A non-nil empty map turns HTTP/2 off.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return tr
}

func client(proto string, urls []string) {
	bufio.NewReader(os.Stdin).ReadString('\n')
	var port string
	c := &http.Client{Transport: transport(proto, &port)}
	for _, u := range urls {
		resp, err := c.Get(u)
		check(err)
		_, err = io.Copy(io.Discard, resp.Body)
		check(err)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, port, resp.Proto)
	}
}

func load(proto, url string, seconds, conns int) {
	tr := transport(proto, nil)
	tr.MaxIdleConnsPerHost = conns
	c := &http.Client{Transport: tr}
	var done int64
	stop := time.Now().Add(time.Duration(seconds) * time.Second)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				resp, err := c.Get(url)
				check(err)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				atomic.AddInt64(&done, 1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%.1f\n", float64(done)/float64(seconds))
}

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "server" {
		serve(os.Args[2])
	} else if len(os.Args) >= 4 && os.Args[1] == "client" {
		client(os.Args[2], os.Args[3:])
	} else if len(os.Args) == 6 && os.Args[1] == "load" {
		seconds, err := strconv.Atoi(os.Args[4])
		check(err)
		conns, err := strconv.Atoi(os.Args[5])
		check(err)
		load(os.Args[2], os.Args[3], seconds, conns)
	} else {
		fmt.Fprintln(os.Stderr, "usage: go_tls server ADDR | client h1|h2 URL... | load h1|h2 URL SECONDS CONNS")
		os.Exit(2)
	}
}
