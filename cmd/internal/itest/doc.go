// Package itest holds the end-to-end test that runs a real cluster: three
// controllers and three brokers as separate processes over QUIC with mutual
// TLS on 127.0.0.1, with real disks, killed with SIGKILL mid-workload, and
// checked with the claimed-order checker from linearizability/.
package itest
