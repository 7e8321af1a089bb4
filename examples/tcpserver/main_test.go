package main

func Example() {
	main()
	// Output:
	// client 0 got "HELLO FROM CLIENT 0"
	// client 1 got "HELLO FROM CLIENT 1"
	// client 2 got "HELLO FROM CLIENT 2"
	// the server accepted 3 connections on 2 loops
}
