//go:build linux

package uring

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Op is an io_uring opcode (enum io_uring_op in <linux/io_uring.h>).
type Op uint8

// The opcodes this ring prepares. Their values are the kernel ABI.
const (
	// OpNop completes without doing anything; tests and probes use it to
	// measure a round trip.
	OpNop Op = 0
	// OpFsync is fsync(2), or fdatasync(2) with FsyncDatasync.
	OpFsync Op = 3
	// OpWrite is pwrite(2) of one buffer at an explicit offset (Linux 5.6+).
	OpWrite Op = 23
)

// Submission flags (IOSQE_* in <linux/io_uring.h>).
const (
	// FlagIODrain starts the entry only after every earlier one completed.
	FlagIODrain uint8 = 1 << 1
	// FlagIOLink makes the next entry start only after this one succeeded;
	// if this one fails (or a read/write is short) the rest of the chain
	// completes with -ECANCELED. A chain ends at the first entry without it
	// and never spans two Submit calls.
	FlagIOLink uint8 = 1 << 2
)

// FsyncDatasync (IORING_FSYNC_DATASYNC) makes OpFsync an fdatasync: file data
// and the metadata needed to read it back (size), not timestamps.
const FsyncDatasync uint32 = 1

// Kernel ABI constants we need besides the opcodes.
const (
	offSQRing        = 0
	offCQRing        = 0x8000000
	offSQEs          = 0x10000000
	enterGetEvents   = 1
	featSingleMmap   = 1
	registerProbe    = 8
	opSupported      = 1
	probeOpsCount    = 256
	entriesMax       = 32768
	sqeBytes         = 64
	cqeBytes         = 16
	paramsBytes      = 120
	probeHeaderBytes = 16
)

// ErrRingFull means no operation can be prepared until the caller submits
// (the submission queue is full) or reaps completions (the completion queue
// could otherwise overflow).
var ErrRingFull = errors.New("uring: ring full")

// ErrUnsupported is returned on systems without io_uring; on Linux, New
// reports the kernel's own errno instead.
var ErrUnsupported = errors.New("uring: io_uring requires Linux")

// ErrClosed is returned by every method once Close has run.
var ErrClosed = errors.New("uring: ring closed")

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	resv2                                                           uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	resv2                                                           uint64
}

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFDIn  int32
	addr3       uint64
	pad2        uint64
}

// cqe is struct io_uring_cqe (16 bytes).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// probeOp and probe are struct io_uring_probe_op / io_uring_probe.
type probeOp struct {
	op    uint8
	resv  uint8
	flags uint16
	resv2 uint32
}

type probe struct {
	lastOp uint8
	opsLen uint8
	resv   uint16
	resv2  [3]uint32
	ops    [probeOpsCount]probeOp
}

// Compile-time checks that the Go structs match the kernel ABI sizes.
var (
	_ [paramsBytes - unsafe.Sizeof(params{})]struct{}
	_ [unsafe.Sizeof(params{}) - paramsBytes]struct{}
	_ [sqeBytes - unsafe.Sizeof(sqe{})]struct{}
	_ [unsafe.Sizeof(sqe{}) - sqeBytes]struct{}
	_ [cqeBytes - unsafe.Sizeof(cqe{})]struct{}
	_ [unsafe.Sizeof(cqe{}) - cqeBytes]struct{}
	_ [probeHeaderBytes + 8*probeOpsCount - unsafe.Sizeof(probe{})]struct{}
)

// CQE is one completion: the UserData given at preparation and the result,
// which is what the equivalent system call would return, or -errno.
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// Err converts a negative result to its errno; nil for a non-negative one.
func (c CQE) Err() error {
	if c.Res >= 0 {
		return nil
	}
	return unix.Errno(-c.Res)
}

// Ring is one io_uring instance: a submission queue of SQEntries and a
// completion queue of CQEntries. See the package comment for ownership.
type Ring struct {
	fd                   int
	sqMem, cqMem, sqeMem []byte

	sqHead, sqTail *uint32 // kernel consumes at head; we publish tail
	sqMask         uint32
	sqEntries      uint32
	sqes           []sqe

	cqHead, cqTail *uint32 // kernel produces at tail; we consume at head
	cqMask         uint32
	cqEntries      uint32
	cqes           []cqe

	features  uint32
	supported [probeOpsCount]bool

	sqeTail  uint32 // next entry we prepare; published to *sqTail on submit
	inflight uint32 // prepared and not yet reaped

	pins  map[uint64]*runtime.Pinner // per UserData, until its completion
	spare []*runtime.Pinner
	done  bool
}

// New sets up a ring with at least entries submission slots (the kernel
// rounds up to a power of two; at most 32768). Errors wrap the kernel's
// errno, so callers can test errors.Is(err, unix.ENOSYS) or unix.EPERM.
func New(entries uint32) (*Ring, error) {
	if entries == 0 || entries > entriesMax {
		return nil, fmt.Errorf("uring: ring entries must be in [1, %d] (got %d)", entriesMax, entries)
	}
	var p params
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("uring: io_uring_setup(%d entries): %w", entries, errno)
	}
	r := &Ring{fd: int(fd), features: p.features, pins: map[uint64]*runtime.Pinner{}}
	if err := r.mapRings(&p); err != nil {
		r.unmap()
		unix.Close(r.fd)
		return nil, err
	}
	r.probe()
	return r, nil
}

// mapRings maps the SQ ring, the CQ ring (one mapping with
// IORING_FEAT_SINGLE_MMAP) and the SQE array, and points the ring's fields
// into them.
func (r *Ring) mapRings(p *params) error {
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*cqeBytes
	single := p.features&featSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	prot, flags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE
	var err error
	if r.sqMem, err = unix.Mmap(r.fd, offSQRing, sqSize, prot, flags); err != nil {
		return fmt.Errorf("uring: mmap SQ ring (%d bytes): %w", sqSize, err)
	}
	r.cqMem = r.sqMem
	if !single {
		if r.cqMem, err = unix.Mmap(r.fd, offCQRing, cqSize, prot, flags); err != nil {
			return fmt.Errorf("uring: mmap CQ ring (%d bytes): %w", cqSize, err)
		}
	}
	sqeSize := int(p.sqEntries) * sqeBytes
	if r.sqeMem, err = unix.Mmap(r.fd, offSQEs, sqeSize, prot, flags); err != nil {
		return fmt.Errorf("uring: mmap SQEs (%d bytes): %w", sqeSize, err)
	}
	u32 := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail = u32(r.sqMem, p.sqOff.head), u32(r.sqMem, p.sqOff.tail)
	r.sqMask, r.sqEntries = *u32(r.sqMem, p.sqOff.ringMask), p.sqEntries
	r.cqHead, r.cqTail = u32(r.cqMem, p.cqOff.head), u32(r.cqMem, p.cqOff.tail)
	r.cqMask, r.cqEntries = *u32(r.cqMem, p.cqOff.ringMask), p.cqEntries
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&r.cqMem[p.cqOff.cqes])), p.cqEntries)
	// The SQ ring indexes SQEs through an array; an identity mapping lets
	// slot i of the ring always mean SQE i, so it is written once.
	array := unsafe.Slice(u32(r.sqMem, p.sqOff.array), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.sqeTail = atomic.LoadUint32(r.sqTail)
	return nil
}

// probe asks the kernel which opcodes it supports (IORING_REGISTER_PROBE,
// Linux 5.6+). On an older kernel nothing but NOP is marked supported, which
// is right: OpWrite needs 5.6 too.
func (r *Ring) probe() {
	r.supported[OpNop] = true
	var p probe
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerProbe,
		uintptr(unsafe.Pointer(&p)), probeOpsCount, 0, 0)
	if errno != 0 {
		return
	}
	for i := 0; i < int(p.opsLen) && i < probeOpsCount; i++ {
		if p.ops[i].flags&opSupported != 0 {
			r.supported[p.ops[i].op] = true
		}
	}
}

func (r *Ring) unmap() {
	if r.sqeMem != nil {
		_ = unix.Munmap(r.sqeMem)
	}
	if r.cqMem != nil && len(r.sqMem) > 0 && &r.cqMem[0] != &r.sqMem[0] {
		_ = unix.Munmap(r.cqMem)
	}
	if r.sqMem != nil {
		_ = unix.Munmap(r.sqMem)
	}
	r.sqMem, r.cqMem, r.sqeMem, r.sqes, r.cqes = nil, nil, nil, nil, nil
}

// Supports reports whether the kernel implements op, as probed at New.
func (r *Ring) Supports(op Op) bool { return r.supported[op] }

// Features is the IORING_FEAT_* mask the kernel reported at setup.
func (r *Ring) Features() uint32 { return r.features }

// SQEntries is the submission queue size: how many operations can be
// prepared before a Submit.
func (r *Ring) SQEntries() uint32 { return r.sqEntries }

// CQEntries is the completion queue size, which bounds operations in flight.
func (r *Ring) CQEntries() uint32 { return r.cqEntries }

// Inflight counts operations prepared and not yet reaped.
func (r *Ring) Inflight() uint32 { return r.inflight }

// Space is how many operations can be prepared right now without
// ErrRingFull.
func (r *Ring) Space() uint32 {
	if r.done {
		return 0
	}
	sqFree := r.sqEntries - (r.sqeTail - atomic.LoadUint32(r.sqHead))
	return min(sqFree, r.cqEntries-r.inflight)
}

// next claims a submission entry, zeroed, or reports ErrRingFull.
func (r *Ring) next(userData uint64) (*sqe, error) {
	if r.done {
		return nil, ErrClosed
	}
	if r.Space() == 0 {
		return nil, ErrRingFull
	}
	if _, busy := r.pins[userData]; busy {
		return nil, fmt.Errorf("uring: user data %d is still in flight with a pinned buffer", userData)
	}
	s := &r.sqes[r.sqeTail&r.sqMask]
	*s = sqe{userData: userData}
	r.sqeTail++
	r.inflight++
	return s, nil
}

// PrepNop queues a no-op; its completion carries userData and Res 0.
func (r *Ring) PrepNop(userData uint64, flags uint8) error {
	s, err := r.next(userData)
	if err != nil {
		return err
	}
	s.opcode, s.flags = uint8(OpNop), flags
	return nil
}

// PrepWrite queues a pwrite of buf to fd at offset. buf is pinned and must
// not be modified until the completion for userData is reaped; userData must
// be unique among operations in flight.
func (r *Ring) PrepWrite(fd int, buf []byte, offset int64, userData uint64, flags uint8) error {
	if len(buf) > math.MaxUint32 || offset < 0 {
		return fmt.Errorf("uring: write of %d bytes at offset %d out of range", len(buf), offset)
	}
	s, err := r.next(userData)
	if err != nil {
		return err
	}
	s.opcode, s.flags, s.fd = uint8(OpWrite), flags, int32(fd)
	s.off, s.len = uint64(offset), uint32(len(buf))
	if len(buf) > 0 {
		p := r.pinner()
		p.Pin(&buf[0])
		r.pins[userData] = p
		s.addr = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	return nil
}

// PrepFsync queues an fsync of fd; fsyncFlags FsyncDatasync makes it an
// fdatasync. An fsync is not ordered after earlier writes unless it is
// linked to them (FlagIOLink on each earlier entry of the chain) or drained.
func (r *Ring) PrepFsync(fd int, fsyncFlags uint32, userData uint64, flags uint8) error {
	s, err := r.next(userData)
	if err != nil {
		return err
	}
	s.opcode, s.flags, s.fd, s.opFlags = uint8(OpFsync), flags, int32(fd), fsyncFlags
	return nil
}

func (r *Ring) pinner() *runtime.Pinner {
	if n := len(r.spare); n > 0 {
		p := r.spare[n-1]
		r.spare = r.spare[:n-1]
		return p
	}
	return new(runtime.Pinner)
}

func (r *Ring) unpin(userData uint64) {
	if p, ok := r.pins[userData]; ok {
		p.Unpin()
		delete(r.pins, userData)
		r.spare = append(r.spare, p)
	}
}

// Pending counts prepared entries the kernel has not consumed yet.
func (r *Ring) Pending() uint32 { return r.sqeTail - atomic.LoadUint32(r.sqHead) }

// Ready counts completions waiting to be reaped.
func (r *Ring) Ready() uint32 { return atomic.LoadUint32(r.cqTail) - atomic.LoadUint32(r.cqHead) }

// Submit hands every prepared entry to the kernel without waiting.
func (r *Ring) Submit() error { return r.enter(0) }

// SubmitAndWait submits every prepared entry and waits until at least
// waitNr completions (capped at the number in flight) are ready to reap.
func (r *Ring) SubmitAndWait(waitNr uint32) error { return r.enter(waitNr) }

// enter publishes the SQ tail and calls io_uring_enter until everything is
// submitted and enough completions are ready. EINTR (Go's preemption signals
// interrupt a waiting enter often) is retried; EAGAIN and EBUSY mean the
// kernel wants completions reaped first, which is the caller's to do when
// some are ready.
func (r *Ring) enter(waitNr uint32) error {
	if r.done {
		return ErrClosed
	}
	atomic.StoreUint32(r.sqTail, r.sqeTail)
	waitNr = min(waitNr, r.inflight)
	for {
		toSubmit := r.Pending()
		ready := r.Ready()
		if toSubmit == 0 && ready >= waitNr {
			return nil
		}
		// min_complete counts every completion in the queue, not only new
		// ones, so it is waitNr itself.
		var flags uintptr
		minComplete := uint32(0)
		if ready < waitNr {
			flags, minComplete = enterGetEvents, waitNr
		}
		_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit),
			uintptr(minComplete), flags, 0, 0)
		switch errno {
		case 0, unix.EINTR:
		case unix.EAGAIN, unix.EBUSY:
			if r.Ready() > 0 {
				return nil
			}
		default:
			return fmt.Errorf("uring: io_uring_enter(submit %d, wait %d): %w", toSubmit, minComplete, errno)
		}
	}
}

// Reap hands every ready completion to fn, in completion order, and frees
// its slot and pinned buffer first, so fn may prepare new operations. It
// returns how many it reaped.
func (r *Ring) Reap(fn func(CQE)) int {
	if r.done {
		return 0
	}
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := r.cqes[head&r.cqMask]
		atomic.StoreUint32(r.cqHead, head+1)
		r.inflight--
		r.unpin(c.userData)
		n++
		if fn != nil {
			fn(CQE{UserData: c.userData, Res: c.res, Flags: c.flags})
		}
	}
	return n
}

// Close waits for every operation in flight (their completions are
// discarded), so no pinned buffer is released under the kernel, then unmaps
// the ring and closes its descriptor.
func (r *Ring) Close() error {
	if r.done {
		return nil
	}
	var err error
	for r.inflight > 0 && err == nil {
		if err = r.SubmitAndWait(r.inflight); err == nil {
			r.Reap(nil)
		}
	}
	r.done = true
	r.unmap()
	if cerr := unix.Close(r.fd); cerr != nil && err == nil {
		err = fmt.Errorf("uring: close ring: %w", cerr)
	}
	for ud := range r.pins {
		r.unpin(ud)
	}
	return err
}

// Available reports whether io_uring can be used for the WAL here, and if
// not, why: the io_uring_disabled sysctl, a kernel without io_uring (ENOSYS),
// a sandbox that forbids it (EPERM), or missing WRITE/FSYNC opcodes.
func Available() error {
	const sysctl = "/proc/sys/kernel/io_uring_disabled"
	if b, err := os.ReadFile(sysctl); err == nil {
		if v := strings.TrimSpace(string(b)); v == "2" {
			return fmt.Errorf("uring: io_uring disabled by %s=%s", sysctl, v)
		}
	}
	r, err := New(2)
	if err != nil {
		if b, rerr := os.ReadFile(sysctl); rerr == nil && strings.TrimSpace(string(b)) != "0" {
			err = fmt.Errorf("%w (%s=%s)", err, sysctl, strings.TrimSpace(string(b)))
		}
		return err
	}
	defer r.Close()
	for _, op := range []Op{OpWrite, OpFsync} {
		if !r.Supports(op) {
			return fmt.Errorf("uring: kernel lacks io_uring opcode %d", op)
		}
	}
	if err := r.PrepNop(1, 0); err != nil {
		return err
	}
	if err := r.SubmitAndWait(1); err != nil {
		return err
	}
	r.Reap(nil)
	return nil
}
