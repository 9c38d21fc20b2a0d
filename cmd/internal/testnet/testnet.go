// Package testnet helps tests that run real servers on loopback.
package testnet

import (
	"fmt"
	"net"
	"testing"
)

// FreePort finds a loopback port free for both TCP and UDP (QUIC listens on
// UDP, the admin API on TCP).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("testnet: no free port on 127.0.0.1")
	return 0
}
