"""REST API tests: requests as a client sends them, answers as a client reads them."""

from rest_framework.test import APIClient

from hierarchy.models import User


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client
