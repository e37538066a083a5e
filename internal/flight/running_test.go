package flight

import (
	"sync/atomic"
	"testing"
)

func TestRunningWaitCoversGoroutinesAddedWhileWaiting(t *testing.T) {
	var r Running
	r.Wait() // zero: returns at once
	var finished atomic.Int64
	release := make(chan struct{})
	r.Add()
	go func() {
		<-release
		r.Add() // a second one, added while Wait waits
		go func() {
			finished.Add(1)
			r.Done()
		}()
		finished.Add(1)
		r.Done()
	}()
	waited := make(chan struct{})
	go func() { r.Wait(); close(waited) }()
	close(release)
	await(t, waited, "Wait to return")
	if n := finished.Load(); n != 2 {
		t.Errorf("Wait returned with %d of 2 goroutines finished", n)
	}
}
