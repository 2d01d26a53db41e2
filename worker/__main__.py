from worker.launch import main

main()
