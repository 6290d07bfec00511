package rpc

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdle is how long a request goroutine waits for another request on
// its connection before it exits; all exit when the connection closes.
const workerIdle = 10 * time.Second

// workerPool runs request handlers on goroutines that stay for a while
// after their request, so that the next request starts on a goroutine
// whose stack has already grown. A new goroutine starts with a small stack
// and copies it, larger, each time a handler and the codec go deeper: in
// the 64-client benchmark that copying was 5–7% of the CPU.
type workerPool struct {
	work chan func() // unbuffered: a send succeeds only to an idle worker
	idle time.Duration
	quit chan struct{}
	stop sync.Once
	wg   sync.WaitGroup

	started atomic.Int64 // goroutines started, ever
}

func newWorkerPool(idle time.Duration) *workerPool {
	return &workerPool{work: make(chan func()), idle: idle, quit: make(chan struct{})}
}

// run runs f on an idle worker, or on a new one if none is idle.
func (p *workerPool) run(f func()) {
	select {
	case p.work <- f:
	default:
		p.started.Add(1)
		p.wg.Add(1)
		go p.worker(f)
	}
}

func (p *workerPool) worker(f func()) {
	defer p.wg.Done()
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		f()
		t.Reset(p.idle)
		select {
		case f = <-p.work:
		case <-t.C:
			return
		case <-p.quit:
			return
		}
	}
}

// close makes idle workers exit and waits for every worker to end; those
// running a handler end after it.
func (p *workerPool) close() {
	p.stop.Do(func() { close(p.quit) })
	p.wg.Wait()
}
