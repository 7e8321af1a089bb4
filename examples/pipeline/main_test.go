package main

func Example() {
	main()
	// Output:
	// sum of squares 1..10 = 385
	// sum of squares 1..1000 = 333833500
}
