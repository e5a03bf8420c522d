package main

import "github.com/forteleasing/inspections/bench/kit"

// proc is a child process: the service or PocketBase (bench/kit).
type proc = kit.Proc

func startProc(path string, args, env []string, logPath string) (*proc, error) {
	return kit.StartProc(path, args, env, logPath)
}

func tail(path string) string { return kit.Tail(path) }

func freePort() (int, error) { return kit.FreePort() }
