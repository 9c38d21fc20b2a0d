//go:build linux

package wal

import (
	"errors"
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/io/uring"
	"github.com/weirmq/weir/io/wal/walfs"
)

// uringBackend queues a group's operations and submits them together. The
// operations on one file form a chain linked with IOSQE_IO_LINK (writes in
// order, then the fdatasync), so the fdatasync starts only after that file's
// writes succeeded; chains of different files run in parallel. A chain
// never spans two submissions (the kernel ends a link there), so a chain
// longer than the free ring space is split and each piece waits for the one
// before it.
//
// A short write breaks the kernel's chain (the rest complete -ECANCELED);
// run then finishes the remainder with pwrite and repeats the fdatasync
// synchronously. Any other negative result is the error run returns.
type uringBackend struct {
	ring   *uring.Ring
	ops    []ioOp
	res    []int32
	chains [][]int
	byFD   map[int]int
}

type ioOp struct {
	sync bool
	f    walfs.File
	fd   int
	buf  []byte
	off  int64
	path string
}

const resPending = math.MinInt32

func newUringBackend(entries uint32) (backend, error) {
	if entries == 0 {
		entries = 256
	}
	r, err := uring.New(entries)
	if err != nil {
		return nil, err
	}
	for _, op := range []uring.Op{uring.OpWrite, uring.OpFsync} {
		if !r.Supports(op) {
			r.Close()
			return nil, fmt.Errorf("uring: kernel lacks io_uring opcode %d", op)
		}
	}
	return &uringBackend{ring: r, byFD: map[int]int{}}, nil
}

func (b *uringBackend) name() string { return BackendUring }

// write and datasync take files of walfs.OS (the WAL picks this backend
// only for it); any other file gets descriptor -1, which fails with EBADF.
func (b *uringBackend) write(f walfs.File, buf []byte, off int64, path string) {
	fd, _ := walfs.FD(f)
	b.ops = append(b.ops, ioOp{f: f, fd: fd, buf: buf, off: off, path: path})
}

func (b *uringBackend) datasync(f walfs.File, path string) {
	fd, _ := walfs.FD(f)
	b.ops = append(b.ops, ioOp{sync: true, f: f, fd: fd, path: path})
}

func (b *uringBackend) close() error { return b.ring.Close() }

func (b *uringBackend) run() error {
	if len(b.ops) == 0 {
		return nil
	}
	defer b.reset()
	for i := range b.ops {
		c, ok := b.byFD[b.ops[i].fd]
		if !ok {
			c = len(b.chains)
			b.byFD[b.ops[i].fd] = c
			b.chains = append(b.chains, nil)
		}
		b.chains[c] = append(b.chains[c], i)
	}
	b.res = b.res[:0]
	for range b.ops {
		b.res = append(b.res, resPending)
	}
	for _, chain := range b.chains {
		if err := b.submitChain(chain); err != nil {
			return err
		}
	}
	if err := b.waitAll(); err != nil {
		return err
	}
	return b.finish()
}

func (b *uringBackend) reset() {
	for i := range b.ops {
		b.ops[i] = ioOp{}
	}
	b.ops = b.ops[:0]
	for i := range b.chains {
		b.chains[i] = b.chains[i][:0]
	}
	b.chains = b.chains[:0]
	clear(b.byFD)
}

// submitChain prepares one file's operations, linked, splitting the chain
// only where the ring has no room for the rest.
func (b *uringBackend) submitChain(chain []int) error {
	for len(chain) > 0 {
		if b.ring.Space() < uint32(len(chain)) && b.ring.Inflight() > 0 {
			if err := b.waitAll(); err != nil {
				return err
			}
		}
		n := min(len(chain), int(b.ring.Space()))
		for k, i := range chain[:n] {
			var flags uint8
			if k < n-1 {
				flags = uring.FlagIOLink
			}
			if err := b.prep(i, flags); err != nil {
				return err
			}
		}
		if chain = chain[n:]; len(chain) > 0 {
			if err := b.waitAll(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *uringBackend) prep(i int, flags uint8) error {
	op := &b.ops[i]
	if op.sync {
		return b.ring.PrepFsync(op.fd, uring.FsyncDatasync, uint64(i), flags)
	}
	return b.ring.PrepWrite(op.fd, op.buf, op.off, uint64(i), flags)
}

func (b *uringBackend) waitAll() error {
	for b.ring.Inflight() > 0 {
		if err := b.ring.SubmitAndWait(b.ring.Inflight()); err != nil {
			return fmt.Errorf("wal: %w", err)
		}
		b.ring.Reap(func(c uring.CQE) {
			if c.UserData < uint64(len(b.res)) {
				b.res[c.UserData] = c.Res
			}
		})
	}
	return nil
}

// finish checks every result in chain order, completing short or cancelled
// work synchronously; a fdatasync that ran before such a repair is redone.
func (b *uringBackend) finish() error {
	for _, chain := range b.chains {
		repaired := false
		for _, i := range chain {
			op, res := &b.ops[i], b.res[i]
			if op.sync {
				switch {
				case res == 0 && !repaired:
				case res == 0 || res == -int32(unix.ECANCELED):
					if err := fdatasync(op.f, op.path); err != nil {
						return err
					}
				default:
					return &os.PathError{Op: "wal: fdatasync", Path: op.path, Err: resErr(res)}
				}
				repaired = false
				continue
			}
			switch {
			case res == int32(len(op.buf)):
			case res >= 0 && res < int32(len(op.buf)):
				if err := pwriteFull(op.f, op.buf[res:], op.off+int64(res), op.path); err != nil {
					return err
				}
				repaired = true
			case res == -int32(unix.ECANCELED):
				if err := pwriteFull(op.f, op.buf, op.off, op.path); err != nil {
					return err
				}
				repaired = true
			default:
				return &os.PathError{Op: fmt.Sprintf("wal: write %d bytes at byte %d of", len(op.buf), op.off), Path: op.path, Err: resErr(res)}
			}
		}
	}
	return nil
}

func resErr(res int32) error {
	if res == resPending {
		return errors.New("no completion from io_uring")
	}
	if res < 0 {
		return unix.Errno(-res)
	}
	return fmt.Errorf("unexpected result %d", res)
}
