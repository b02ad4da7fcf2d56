module github.com/weir-mesh/weir/go

go 1.19
