module example.com/weir

go 1.19
