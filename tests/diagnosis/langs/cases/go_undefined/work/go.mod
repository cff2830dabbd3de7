module example.com/gridsim

go 1.19
