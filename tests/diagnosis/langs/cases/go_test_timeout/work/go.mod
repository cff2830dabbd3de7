module example.com/workpool

go 1.19
