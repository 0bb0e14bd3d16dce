//go:build !linux

package main

// growPipe: pipes have a fixed size here.
func growPipe(int) {}
