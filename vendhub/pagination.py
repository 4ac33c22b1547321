from rest_framework.pagination import PageNumberPagination


class DefaultPagination(PageNumberPagination):
    """`?page=N&page_size=M`, with an upper bound so one request cannot dump a table."""

    page_size_query_param = "page_size"
    max_page_size = 500
