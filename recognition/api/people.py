"""People (staff only): list, create, rename, delete, merge; their reference faces."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import files, selectors, services
from recognition.api.common import (
    UPLOAD_PARSERS,
    ImageInputSerializer,
    QuerySerializer,
    TextField,
    id_field,
    paginate,
    paginated,
)
from recognition.api.faces import FaceSerializer
from recognition.api.files import FileApi
from recognition.api.photos import UPLOAD_RESPONSES, WaitSerializer, photo_response
from recognition.api.schema import NAME_TAKEN
from recognition.models import Face, Person, Photo


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.HyperlinkedIdentityField(
        view_name="api:person-detail", lookup_url_kwarg="person_id"
    )
    name = serializers.CharField()
    notes = serializers.CharField()
    reference_count = serializers.IntegerField(
        source="n_references", help_text="Reference faces: the gallery faces are matched against."
    )
    face_count = serializers.IntegerField(source="n_faces", help_text="Faces of this person.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Person"


def _person(person_id: int) -> Person:
    return get_object_or_404(Person, pk=person_id)


def _person_response(request, person: Person, code: int = status.HTTP_200_OK) -> Response:
    """``person`` with its counts, as PersonSerializer shows it."""
    person = selectors.person_list().get(pk=person.pk)
    return Response(PersonSerializer(person, context={"request": request}).data, status=code)


def _existing(model, pk: int, field: str):
    """The ``model`` row ``pk`` named by input ``field``, or a 400 on that field."""
    row = model.objects.filter(pk=pk).first()
    if row is None:
        raise serializers.ValidationError({field: [f"No {model._meta.verbose_name} with this id."]})
    return row


class PersonCollectionApi(APIView):
    """``GET``: list people; ``POST``: create one."""

    permission_classes = (IsAdminUser,)

    class PageSerializer(QuerySerializer):
        page = id_field(required=False)
        page_size = serializers.IntegerField(min_value=1, max_value=100, required=False)

    class CreateSerializer(serializers.Serializer):
        name = TextField(max_length=200)
        notes = TextField(required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "PersonCreateInput"

    @extend_schema(
        operation_id="person_list", parameters=[PageSerializer],
        responses=paginated(PersonSerializer, "PersonPage"),
    )
    def get(self, request) -> Response:
        """Everyone known, by name, with their reference and face counts."""
        self.PageSerializer(data=request.query_params).is_valid(raise_exception=True)
        people = selectors.person_list().order_by("name", "id")
        return paginate(request, self, people, PersonSerializer)

    @extend_schema(
        operation_id="person_create", request=CreateSerializer,
        responses={201: PersonSerializer, 409: NAME_TAKEN},
    )
    def post(self, request) -> Response:
        """A new person, without reference faces yet (add them with `references` or `enrol`)."""
        data = self.CreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = services.person_create(**data.validated_data)
        return _person_response(request, person, status.HTTP_201_CREATED)


class PersonDetailApi(APIView):
    """``GET`` a person; ``PATCH`` renames; ``DELETE`` deletes them and their biometric data."""

    permission_classes = (IsAdminUser,)

    class RenameSerializer(serializers.Serializer):
        name = TextField(max_length=200)

        class Meta:
            ref_name = "PersonRenameInput"

    @extend_schema(operation_id="person_get", responses=PersonSerializer)
    def get(self, request, person_id: int) -> Response:
        return _person_response(request, _person(person_id))

    @extend_schema(
        operation_id="person_rename", request=RenameSerializer,
        responses={200: PersonSerializer, 409: NAME_TAKEN},
    )
    def patch(self, request, person_id: int) -> Response:
        person = _person(person_id)
        data = self.RenameSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.person_rename(person=person, name=data.validated_data["name"])
        return _person_response(request, person)

    @extend_schema(operation_id="person_delete", responses={204: None})
    def delete(self, request, person_id: int) -> Response:
        """Delete the person, their reference faces and enrolment photos; faces of them in
        other photos become unknown."""
        services.person_delete(person=_person(person_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PersonExportApi(FileApi):
    permission_classes = (IsAdminUser,)

    @extend_schema(operation_id="person_export", responses={
        (200, "application/zip"): OpenApiResponse(
            OpenApiTypes.BINARY, description="person.json, the crops and the photos."),
    })
    def get(self, request, person_id: int) -> HttpResponse:
        """Staff: everything stored about the person, as a zip (the export is audited)."""
        person = _person(person_id)
        return files.attachment(services.person_export(person=person, actor=request.user),
                                filename=f"person-{person.pk}.zip", content_type="application/zip")


class PersonMergeApi(APIView):
    permission_classes = (IsAdminUser,)

    class InputSerializer(serializers.Serializer):
        other_id = id_field(help_text="The person to fold into this one (then deleted).")

        class Meta:
            ref_name = "PersonMergeInput"

    @extend_schema(operation_id="person_merge", request=InputSerializer, responses=PersonSerializer)
    def post(self, request, person_id: int) -> Response:
        """Merge another person into this one: their faces and references move here."""
        person = _person(person_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        other = _existing(Person, data.validated_data["other_id"], "other_id")
        services.person_merge(into=person, other=other, actor=request.user)
        return _person_response(request, person)


class PersonReferenceCollectionApi(APIView):
    """``GET``: a person's reference faces; ``POST``: make an existing face one of them."""

    permission_classes = (IsAdminUser,)

    class AddSerializer(serializers.Serializer):
        face_id = id_field(help_text="A detected face, in any photo.")

        class Meta:
            ref_name = "ReferenceAddInput"

    @extend_schema(operation_id="person_reference_list", responses=FaceSerializer(many=True))
    def get(self, request, person_id: int) -> Response:
        faces = selectors.person_references(person=_person(person_id))
        return Response(FaceSerializer(faces, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="person_reference_add", request=AddSerializer, responses={201: FaceSerializer}
    )
    def post(self, request, person_id: int) -> Response:
        person = _person(person_id)
        data = self.AddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        face = _existing(Face, data.validated_data["face_id"], "face_id")
        face = services.person_reference_add(person=person, face=face)
        data = FaceSerializer(face, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class PersonReferenceApi(APIView):
    permission_classes = (IsAdminUser,)

    @extend_schema(operation_id="person_reference_remove", responses={204: None})
    def delete(self, request, person_id: int, face_id: int) -> Response:
        """Stop using a face as a reference (it stays assigned to the person)."""
        person = _person(person_id)
        face = get_object_or_404(selectors.person_references(person=person), pk=face_id)
        services.person_reference_remove(person=person, face=face)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PersonEnrolApi(APIView):
    permission_classes = (IsAdminUser,)
    parser_classes = UPLOAD_PARSERS

    class InputSerializer(ImageInputSerializer):
        class Meta:
            ref_name = "PersonEnrolInput"

    @extend_schema(
        operation_id="person_enrol", parameters=[WaitSerializer], request=InputSerializer,
        responses=UPLOAD_RESPONSES,
    )
    def post(self, request, person_id: int) -> Response:
        """Add a reference from a photo showing this person alone. The photo is analysed by
        a worker like any other; when done its face is a reference, or `error` says why not
        (no face, several faces)."""
        person = _person(person_id)
        query = WaitSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        photo = services.person_reference_add(
            person=person, file=data.validated_data["image"], uploaded_by=request.user,
            source=Photo.Source.API,
        )
        return photo_response(request, photo, wait=query.validated_data["wait"])
