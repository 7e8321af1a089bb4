package main

func Example() {
	main()
	// Output:
	// 15 words
	// C         1
	// Go        1
	// and       2
	// coroutine 2
	// counts    1
	// loop      1
	// runs      2
	// the       4
	// words     1
}
