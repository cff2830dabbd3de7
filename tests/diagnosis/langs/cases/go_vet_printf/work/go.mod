module example.com/reporting

go 1.19
